"""The phase tags (issue #16, docs/tags.md): every task that a role's tasks/main.yml reaches
carries the role's tag and at least one of `<role>_install`, `<role>_configure`, `<role>_run`,
and each of those three tags selects at least one task of its role.

Read from the YAML of roles/*/tasks/*.yml, the way Ansible resolves tags:
- a block's and an import_tasks' tags are inherited by the tasks inside (static);
- include_tasks and include_role (dynamic) pass on their ancestors' tags and the tags of their
  `apply:`, not their own: the tags on the include itself select only the include (checked with
  ansible-core 2.19). An include_role's tasks_from is followed into the named role of this
  collection.
Facts, checks and `always` tasks carry all three phase tags.
"""
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES_DIR = ROOT / "roles"
PHASES = ("install", "configure", "run")
ROLES = sorted(p.parent.parent.name for p in ROLES_DIR.glob("*/tasks/main.yml") if not p.parent.parent.name.startswith("_"))

_BLOCK_KEYS = ("block", "rescue", "always")


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",")]
    return list(value)


def _action(task):
    for key in task:
        short = key.rsplit(".", 1)[-1]
        if short in ("import_tasks", "include_tasks", "include_role", "import_role"):
            return short, task[key]
    return None, None


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or []


def _role_file(role, name):
    if role.startswith("groundwork.platform."):
        role = role[len("groundwork.platform."):]
    return ROLES_DIR / role / "tasks" / name


def walk(path, inherited, trail=()):
    """Yield (location, task name, effective tags) for every task reachable from path."""
    if path in trail:  # a file that includes itself through others: seen once per chain
        return
    trail = trail + (path,)
    for task in _load(path):
        yield from _walk_task(path, task, inherited, trail)


def _walk_task(path, task, inherited, trail):
    tags = set(inherited) | set(_as_list(task.get("tags")))
    ancestors = set(inherited)
    if any(key in task for key in _BLOCK_KEYS):
        for key in _BLOCK_KEYS:
            for child in task.get(key) or []:
                yield from _walk_task(path, child, tags, trail)
        return
    kind, arg = _action(task)
    where = f"{path.relative_to(ROOT)}: {task.get('name')!r}"
    if kind == "import_tasks":
        name = arg if isinstance(arg, str) else arg["file"]
        yield from walk(path.parent / name, tags, trail)
        return
    yield where, tags
    if kind == "include_tasks":
        name = arg if isinstance(arg, str) else arg["file"]
        options = task.get("args") or {} if isinstance(arg, str) else arg  # free form: apply under args
        apply = set(_as_list((options.get("apply") or {}).get("tags")))
        yield from walk(path.parent / name, ancestors | apply, trail)
    elif kind in ("include_role", "import_role"):
        target = _role_file(arg["name"], arg.get("tasks_from", "main.yml"))
        if kind == "import_role":
            passed = tags
        else:
            passed = ancestors | set(_as_list((arg.get("apply") or {}).get("tags")))
        if target.exists():
            yield from walk(target, passed, trail)


def _tasks(role):
    return list(walk(ROLES_DIR / role / "tasks" / "main.yml", set()))


def test_roles_found():
    assert "redis" in ROLES and "haproxy" in ROLES and len(ROLES) >= 16


@pytest.mark.parametrize("role", ROLES)
def test_every_task_carries_its_role_tag_and_a_phase_tag(role):
    phases = {f"{role}_{p}" for p in PHASES}
    missing = [
        f"{where}: {sorted(tags)}"
        for where, tags in _tasks(role)
        if role not in tags or not tags & phases
    ]
    assert not missing, f"tasks of {role} without the tag {role} or a phase tag ({sorted(phases)}):\n" + "\n".join(missing)


@pytest.mark.parametrize("role", ROLES)
def test_every_phase_tag_selects_a_task(role):
    seen = set().union(*(tags for _where, tags in _tasks(role)))
    unused = [f"{role}_{p}" for p in PHASES if f"{role}_{p}" not in seen]
    assert not unused, f"{role}: phase tags that select no task: {unused}"


@pytest.mark.parametrize("role", ROLES)
def test_no_phase_tag_of_another_role(role):
    """A typo such as redis_configure on a redis_sentinel task would silently drop the task
    from `--tags redis_sentinel_configure` (an include_role of another role's file excepted:
    the tags there are the including role's, given by apply)."""
    others = {f"{r}_{p}" for r in ROLES if r != role for p in PHASES}
    wrong = [f"{where}: {sorted(tags & others)}" for where, tags in _tasks(role) if tags & others]
    assert not wrong, "\n".join(wrong)
