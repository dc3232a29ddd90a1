"""playbooks/preflight.yml: every role's bad input stops the run, naming the variable, before any
host changed. One ansible-playbook run checks every case (cases.py), each on a host of its own."""
import collections
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from cases import CASES, EXTRA, GROUP_VARS, ROLE_GROUPS, VALID

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / "build" / "collections"
ANSIBLE_PLAYBOOK = pathlib.Path(sys.executable).parent / "ansible-playbook"
PREFLIGHT = ROOT / "playbooks" / "preflight.yml"


def case_host(role, var, index):
    return "bad-%s-%s-%d" % (role, var, index)


def inventory(tmp):
    """hosts: ok-ROLE (valid) and bad-ROLE-VAR-N (one bad value), each in a group of its own."""
    hosts = {}

    def add(name, role, extra):
        solo = "solo_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
        host_vars = dict(VALID, **EXTRA.get(role, {}))
        host_vars.update({g: solo for g in GROUP_VARS})
        host_vars.update(extra)
        hosts[name] = {"role": role, "groups": ROLE_GROUPS[role] + [solo], "vars": host_vars}

    for role in ROLE_GROUPS:
        add("ok-" + role, role, {})
    seen = collections.Counter()
    for role, var, value, _kind, also in CASES:
        seen[(role, var)] += 1
        add(case_host(role, var, seen[(role, var)]), role, dict(also, **{var: value}))
    groups = collections.defaultdict(dict)
    for name, h in hosts.items():
        for g in h["groups"]:
            groups[g][name] = None
    inv = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "common_tls_ca_dir": str(tmp / "ca")},
        "hosts": {name: h["vars"] for name, h in hosts.items()},
        "children": {g: {"hosts": members} for g, members in groups.items()},
    }}
    path = tmp / "inventory.yml"
    path.write_text(json.dumps(inv))
    return path


def run(tmp, playbook, *extra):
    """Run `playbook` over the inventory; every host is this machine, so its facts are gathered
    once and given to every host through a fact cache (the play's gathering then skips them)."""
    path = inventory(tmp)
    facts = tmp / "facts"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1",
               # one host at a time: the stage runs beside the molecule lanes and takes one core at most
               ANSIBLE_FORKS="1",
               ANSIBLE_GATHERING="smart", ANSIBLE_CACHE_PLUGIN="ansible.builtin.jsonfile",
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(facts), ANSIBLE_CACHE_PLUGIN_PREFIX="facts_",
               ANSIBLE_CACHE_PLUGIN_TIMEOUT="3600",
               ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"), ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"))
    gather = tmp / "gather.yml"
    gather.write_text(json.dumps([{"hosts": "ok-common", "gather_facts": True, "tasks": []}]))
    subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(path), str(gather)], capture_output=True, env=env, timeout=300, check=True)
    # (the cache's file name: the prefix, a schema tag of Ansible's own, the host)
    [cached] = list(facts.glob("facts_*ok-common"))
    gathered = cached.read_text()
    for host in json.loads(path.read_text())["all"]["hosts"]:
        (facts / cached.name.replace("ok-common", host)).write_text(gathered)
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(path), str(playbook), *extra],
                          capture_output=True, text=True, env=env, timeout=2400, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        pytest.fail("ansible-playbook gave no JSON (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))


def per_host(report):
    """host -> {"failed": [messages], "changed": [task names], "tasks": count}"""
    out = collections.defaultdict(lambda: {"failed": [], "changed": [], "tasks": 0})
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                out[host]["tasks"] += 1
                if result.get("changed"):
                    out[host]["changed"].append(task["task"]["name"])
                if result.get("failed"):
                    items = [r for r in result.get("results", []) if r.get("failed")]
                    out[host]["failed"].append(json.dumps([result.get("msg", result)] + [r.get("msg", r) for r in items]
                                                          + result.get("argument_errors", [])))
    return out


# the platform CA, made on the controller (common_tls_ca_dir, missing in a new tmp directory) by
# the first host's run_once tasks: the only changes the pre-flight makes, none on a host
CA_TASKS = {"groundwork.platform._common : " + name for name in (
    "Create the CA directory on the controller", "Generate the CA key on the controller", "Self-sign the CA certificate")}


@pytest.fixture(scope="module")
def preflight_run(tmp_path_factory):
    """The pre-flight over every case, from a copy of the playbook whose play goes on past a
    failing host (the real one stops the whole run at the first: any_errors_fatal)."""
    tmp = tmp_path_factory.mktemp("preflight")
    plays = yaml.safe_load(PREFLIGHT.read_text())
    assert plays[0]["any_errors_fatal"] is True
    plays[0]["any_errors_fatal"] = False
    copy = tmp / "preflight.yml"
    copy.write_text(json.dumps(plays))
    _rc, report = run(tmp, copy)
    return tmp, per_host(report)


@pytest.fixture(scope="module")
def preflight(preflight_run):
    return preflight_run[1]


@pytest.mark.parametrize("role", list(ROLE_GROUPS))
def test_valid_input_passes(preflight, role):
    host = preflight["ok-" + role]
    assert host["tasks"] > 0 and host["failed"] == [], host["failed"]
    assert set(host["changed"]) <= CA_TASKS, host["changed"]


def test_a_new_controller_gets_the_platform_ca_before_the_checks_read_it(preflight_run):
    # ok-workload's workload_tls_ca_content reads ca.crt (cases.EXTRA) and passed above
    tmp, hosts = preflight_run
    assert (tmp / "ca" / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (tmp / "ca" / "ca.key").stat().st_mode & 0o077 == 0
    made = [name for h in hosts.values() for name in h["changed"]]
    assert sorted(made) == sorted(CA_TASKS), made  # once, by one host
    assert hosts["ok-workload"]["failed"] == []


def _ids():
    seen = collections.Counter()
    for role, var, _value, kind, _also in CASES:
        seen[(role, var)] += 1
        yield "%s-%s-%s-%d" % (role, kind, var, seen[(role, var)])


@pytest.mark.parametrize("host, var", [(case_host(r, v, int(i.rsplit("-", 1)[1])), v) for (r, v, _x, _k, _a), i in zip(CASES, _ids())],
                         ids=list(_ids()))
def test_bad_input_stops_naming_the_variable(preflight, host, var):
    result = preflight[host]
    assert result["failed"], "%s passed the pre-flight" % host
    assert any(var in message for message in result["failed"]), result["failed"]
    assert set(result["changed"]) <= CA_TASKS, result["changed"]


def test_every_role_has_three_bad_values_of_each_kind_it_checks():
    kinds = collections.defaultdict(collections.Counter)
    for role, _var, _value, kind, _also in CASES:
        kinds[role][kind] += 1
    for role in ROLE_GROUPS:
        assert len(kinds[role]) >= 2 and min(kinds[role].values()) >= 3, (role, dict(kinds[role]))


def test_site_yml_runs_the_preflight_first_and_it_stops_the_whole_run():
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    assert site[0].get("ansible.builtin.import_playbook") == "preflight.yml"
    plays = yaml.safe_load(PREFLIGHT.read_text())
    assert len(plays) == 1 and plays[0]["any_errors_fatal"] is True and plays[0]["hosts"] == "all"
    # every role of site.yml is checked
    roles = {r["role"].split(".")[-1] for play in site[1:] for r in play.get("roles", [])}
    assert roles <= {r["role"] for r in plays[0]["vars"]["_preflight_roles"]}
