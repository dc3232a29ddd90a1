# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a duckdb_* module's main() in-process with given parameters.

Other test_duckdb_*.py files import ``run_module`` from here.
"""

from __future__ import annotations

import json
import pathlib
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


#: directory holding ansible_collections/groundwork/platform (see tests/conftest.py)
COLLECTIONS_PATH = str(pathlib.Path(__file__).resolve().parents[4] / "build" / "collections")


class ModuleDone(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise ModuleDone(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise ModuleDone(kwargs)


def run_module(module, params, check_mode=False, diff=False):
    """Return the module's result dict (``failed: True`` when it failed)."""
    args = dict(params)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    warnings = []
    with patch_module_args(args), \
            mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json), \
            mock.patch.object(basic.AnsibleModule, "warn", lambda self, w: warnings.append(w)):
        try:
            module.main()
        except ModuleDone as done:
            result = done.result
            result["warnings"] = warnings
        else:  # pragma: no cover - main() always exits
            raise AssertionError("module did not call exit_json/fail_json")
    # results must be JSON-serialisable, as Ansible sends them back as JSON
    json.dumps(result)
    return result


def test_harness_reports_argument_errors():
    from ansible_collections.groundwork.platform.plugins.modules import duckdb_schema

    result = run_module(duckdb_schema, {"name": "x"})
    assert result["failed"]
    assert "database" in result["msg"]


def test_harness_rejects_unknown_options(tmp_path):
    from ansible_collections.groundwork.platform.plugins.modules import duckdb_schema

    result = run_module(duckdb_schema, {"database": str(tmp_path / "a.duckdb"), "name": "x", "bogus": 1})
    assert result["failed"]
    assert "bogus" in result["msg"]


def create_database(tmp_path):
    """Path of a database created by duckdb_database (settings kept small).

    Test files wrap it in their own ``db`` fixture.
    """
    from ansible_collections.groundwork.platform.plugins.modules import duckdb_database

    path = str(tmp_path / "test.duckdb")
    result = run_module(duckdb_database, {"database": path, "memory_limit": "512MiB", "threads": 1})
    assert not result.get("failed"), result
    return path
