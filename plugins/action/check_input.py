# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for groundwork.platform.check_input: a role's input checks in one task.

A looped ansible.builtin.assert costs about as much per item as a task of its own; this action
evaluates every check on the controller in one pass, and templates the message of a failing check
only (a message may name values that exist only when its check holds)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

_KEYS = frozenset(("name", "that", "msg", "when"))


class ActionModule(ActionBase):
    """Evaluate a list of checks; fail with the message of every check that does not hold."""

    _requires_connection = False
    _VALID_ARGS = frozenset(("checks",))

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        # `that` and `when` are conditionals and `msg` is templated only when its check fails:
        # run() does both, so the checks reach it as written.
        if name == "checks":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        checks = self._task.args.get("checks")
        if not isinstance(checks, list) or not checks:
            raise AnsibleError("check_input: `checks` must be a non-empty list of {that, msg[, when, name]}")
        failed = []
        evaluated = 0
        for index, check in enumerate(checks):
            if not isinstance(check, dict) or "that" not in check or "msg" not in check or set(check) - _KEYS:
                got = sorted(check) if isinstance(check, dict) else type(check).__name__
                raise AnsibleError(f"check_input: checks[{index}] must have `that` and `msg` (and may have `when` and `name`), got keys {got}")
            label = check.get("name", f"checks[{index}]")
            if "when" in check and not self._holds(check["when"], label, "when"):
                continue
            evaluated += 1
            thats = check["that"] if isinstance(check["that"], list) else [check["that"]]
            for that in thats:
                if not self._holds(that, label, "that"):
                    failed.append({"name": label, "assertion": that, "msg": self._message(check["msg"], label)})
                    break
        result["changed"] = False
        result["evaluated"] = evaluated
        if failed:
            result["failed"] = True
            result["failed_checks"] = failed
            # each message, then the rule that failed (an expression names its variables, never a value)
            result["msg"] = " ".join(f"{f['msg']} [failed: {' '.join(str(f['assertion']).split())}]" for f in failed)
        else:
            result["msg"] = f"{evaluated} checks passed"
        return result

    def _holds(self, conditional: t.Any, label: str, key: str) -> bool:
        if isinstance(conditional, bool):
            return conditional
        if not isinstance(conditional, str):
            raise AnsibleError(f"check_input: {label}: `{key}` must be an expression or a list of them, got {type(conditional).__name__}")
        return bool(self._templar.evaluate_conditional(conditional=conditional))

    def _message(self, msg: t.Any, label: str) -> str:
        try:
            return str(self._templar.template(msg)).strip()
        except AnsibleError as exc:
            # the check already failed: report it even when its message cannot be rendered
            return f"{label}: check failed (its message could not be rendered: {exc.message})"
