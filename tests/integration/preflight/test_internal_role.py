"""roles/_common is internal: applied on its own (a play's roles, include_role without tasks_from)
it fails at once, naming its entry points' README; an entry point included with tasks_from runs."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / "build" / "collections"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"

PLAYS = {
    "roles": {"hosts": "localhost", "gather_facts": False, "roles": ["groundwork.platform._common"]},
    "include_role": {"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Include the role itself", "ansible.builtin.include_role": {"name": "groundwork.platform._common"}}]},
    "entry_point": {"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Include an entry point", "ansible.builtin.include_role": {
            "name": "groundwork.platform._common", "tasks_from": "address.yml"},
         "vars": {"common_private_address": "127.0.0.1"}},
        {"name": "Show the fact", "ansible.builtin.debug": {"msg": "ADDRESS={{ common_private_address }}"}}]},
}


def run(tmp, play):
    playbook = tmp / "play.yml"
    playbook.write_text(json.dumps([play]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"), ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"))
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.fail("ansible-playbook gave no JSON (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    results = [(task["task"]["name"], task["hosts"]["localhost"]) for p in report["plays"] for task in p["tasks"]]
    return proc.returncode, results


@pytest.mark.parametrize("how", ["roles", "include_role"])
def test_refuses_to_run_on_its_own(tmp_path, how):
    rc, results = run(tmp_path, PLAYS[how])
    assert rc != 0
    failed = [(name, r) for name, r in results if r.get("failed")]
    assert [name.split(" : ")[-1] for name, _result in failed] == ["Refuse to run the internal role on its own"], results
    msg = failed[0][1]["msg"]
    assert "groundwork.platform._common is internal" in msg and "tasks_from" in msg and "roles/_common/README.md" in msg


def test_an_entry_point_runs(tmp_path):
    rc, results = run(tmp_path, PLAYS["entry_point"])
    assert rc == 0, results
    assert [r["msg"] for name, r in results if name.endswith("Show the fact")] == ["ADDRESS=127.0.0.1"]
