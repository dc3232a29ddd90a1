"""Helpers shared by the molecule scenarios' testinfra tests (pure Python, no fixtures).

A scenario's tests/conftest.py puts this directory on sys.path and imports the two pytest
hooks below, which gives every test module:

- wait_for(): a bounded poll on a condition (never a fixed sleep): the tests run side by side
  with another scenario on a small machine, so anything asynchronous is waited for;
  assert_never() watches a whole window for what must not happen;
- secret(): the throwaway secrets a scenario's converge generated under its ephemeral
  directory (``$MOLECULE_EPHEMERAL_DIRECTORY/secrets/NAME``);
- playbook(): ansible-playbook against the scenario's own inventory; recap() reads its
  PLAY RECAP ({host: {"ok": n, "changed": n, ...}});
- the ``phase`` marker: ``@pytest.mark.phase(N)`` (or ``pytestmark = pytest.mark.phase(N)``
  in a module) orders destructive tests explicitly. Phase 0 (the default) holds the read-only
  steady-state checks; higher phases run after them, in increasing order, and within a phase
  the collection order (file name, then position in the file) is kept.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

PHASE_MARKER = "phase"


def wait_for(predicate, timeout, interval=1.0, what="condition", ignore=(), detail=None):
    """Poll predicate() until it returns a truthy value, which is returned.

    Fails (AssertionError) after `timeout` seconds, naming `what` was waited for and the last
    value predicate() returned (or the last exception of a type in `ignore`, which counts as
    "not yet": a node restarting, a connection refused). `detail`, a callable, adds what it
    returns to that message (the state that explains the failure). The predicate is called
    at least once, even with a timeout of 0.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except ignore as exc:  # a transient error is one more "not yet"
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    message = f"{what} not reached within {timeout}s (last: {last!r})"
    if detail is not None:
        message += f"; {detail()!r}"
    raise AssertionError(message)


def assert_never(predicate, duration, interval=1.0, what="condition"):
    """Poll predicate() for `duration` seconds; fails as soon as it returns a truthy value.

    For what must NOT happen (an inhibited alert notified): the window is watched as a whole
    and a failure is reported when it is seen, not only at the end.
    """
    deadline = time.monotonic() + duration
    while True:
        value = predicate()
        if value:
            raise AssertionError(f"{what} (seen within {duration}s: {value!r})")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)


def ephemeral_directory():
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def inventory():
    """The scenario's inventory directory (its hosts file, group_vars and host_vars)."""
    return str(pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def secret(name):
    """A throwaway secret the converge generated with the password lookup (first word of the file)."""
    return (ephemeral_directory() / "secrets" / name).read_text(encoding="utf-8").split()[0]


def started(host, unit):
    """When systemd last started `unit` on a testinfra host (monotonic): a value that changes
    between two reads means the service was restarted in between."""
    return host.run(f"systemctl show -p ExecMainStartTimestampMonotonic {unit}").stdout


def _ansible_playbook():
    # the one next to this interpreter (the project's virtual environment) where it is there
    beside = pathlib.Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.exists() else shutil.which("ansible-playbook") or "ansible-playbook"


def playbook(path, *extra, limit=None, timeout=900):
    """Run a playbook against the scenario's inventory; returns the CompletedProcess.

    `extra` are ansible-playbook arguments as they are ("-e", "name=value", "--check"...);
    the output is plain text (no colour) so that tests can search it.
    """
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    cmd = [_ansible_playbook(), "-i", inventory()]
    if limit:
        cmd += ["-l", limit]
    cmd += [str(path), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def failures(res):
    """A failed playbook run's error lines (the task before each `fatal:`/`failed:` line, the line and
    what follows it up to the next blank line) and its recap: for an assertion's message, where the
    output's tail alone would show only the handlers and the recap."""
    out = (res.stdout + res.stderr).splitlines()
    picked = []
    for i, line in enumerate(out):
        if line.startswith(("fatal:", "failed:")) or "[ERROR]" in line:
            task = next((out[j] for j in range(i, -1, -1) if out[j].startswith("TASK [")), "")
            end = next((j for j in range(i, len(out)) if not out[j].strip()), len(out))
            picked += [task, *out[i:min(end, i + 20)]]
    return "\n".join(picked + [(res.stdout.split("PLAY RECAP")[-1])[-1500:]])


def recap(stdout):
    """The PLAY RECAP of a playbook's output: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=\d+.*)$", stdout.split("PLAY RECAP")[-1], re.M)}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"{PHASE_MARKER}(n): run order of destructive tests; 0 (default) = read-only steady-state checks, "
        "higher phases run later, in increasing order",
    )


def phase_of(item):
    marker = item.get_closest_marker(PHASE_MARKER)
    if marker is None:
        return 0
    if len(marker.args) != 1 or not isinstance(marker.args[0], int):
        raise ValueError(f"{item.nodeid}: @pytest.mark.{PHASE_MARKER} takes one integer, got {marker.args!r}")
    return marker.args[0]


def pytest_collection_modifyitems(session, config, items):
    """Order the tests by phase; the sort is stable, so within a phase the collection order holds."""
    items.sort(key=phase_of)
