# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests of kafka_acl: main() in-process (test_duckdb_harness.run_module) with
AnsibleModule.run_command replaced by a fake that answers ``--list`` with the output RECORDED
from a real Kafka 4.3.1 broker (tests/unit/fixtures/kafka-4.3.1/acls_list.txt) and records every
argv. No JVM runs; the argv lists themselves are checked in test_kafka_acl_plan.py.
"""

import pathlib
from unittest import mock

import pytest
from ansible.module_utils import basic

from test_duckdb_harness import run_module  # same directory; pytest puts it on sys.path

from ansible_collections.groundwork.platform.plugins.modules import kafka_acl

LIST = (pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "kafka-4.3.1" / "acls_list.txt").read_text(
    encoding="utf-8")

PRESENT = {"principal": "User:app", "resource_type": "topic", "resource_name": "camera-events",
           "operations": ["Read", "Write", "Describe"]}
MISSING = {"principal": "User:app", "resource_type": "topic", "resource_name": "alerts",
           "operations": ["Read", "Write", "Describe"]}


@pytest.fixture
def home(tmp_path):
    tool = tmp_path / "bin" / "kafka-run-class.sh"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 99\n")  # never run: run_command is faked
    tool.chmod(0o755)
    return str(tmp_path)


class FakeTool:
    """Stands in for AnsibleModule.run_command: --list prints the recorded output."""

    def __init__(self, list_rc=0, add_rc=0):
        self.calls = []
        self.list_rc = list_rc
        self.add_rc = add_rc

    def __call__(self, argv, **kwargs):  # set on the class, not bound: no module argument
        self.calls.append((list(argv), kwargs.get("environ_update")))
        if "--list" in argv:
            return (self.list_rc, LIST if self.list_rc == 0 else "", "" if self.list_rc == 0 else "Timed out")
        return (self.add_rc, "", "" if self.add_rc == 0 else "add refused")


def _run(home, acls, fake, check_mode=False, diff=False, **extra):
    params = dict(acls=acls, command_config="/etc/kafka/admin-client.properties", kafka_home=home, var_name="kafka_acls")
    params.update(extra)
    if "bootstrap_controller" not in extra:
        params.setdefault("bootstrap_server", "127.0.0.1:19092")
    with mock.patch.object(basic.AnsibleModule, "run_command", fake):
        return run_module(kafka_acl, params, check_mode=check_mode, diff=diff)


def test_adds_only_the_missing_acls_with_one_call_per_group(home):
    fake = FakeTool()
    result = _run(home, [PRESENT, MISSING], fake, environment={"KAFKA_HEAP_OPTS": "-Xmx128m"})
    assert result["changed"] is True and not result.get("failed")
    assert [g["operations"] for g in result["acls_added"]] == [["Write", "Describe"]]
    assert result["commands"] == ["allow User:app from *: Write, Describe on literal topic alerts"]
    argvs = [argv for argv, _env in fake.calls]
    assert len(argvs) == 2
    assert argvs[0] == [home + "/bin/kafka-run-class.sh", "org.apache.kafka.tools.AclCommand", "--bootstrap-server",
                        "127.0.0.1:19092", "--command-config", "/etc/kafka/admin-client.properties", "--list"]
    assert "--add" in argvs[1] and argvs[1][-2:] == ["--topic", "alerts"]
    assert all(env == {"KAFKA_HEAP_OPTS": "-Xmx128m"} for _argv, env in fake.calls)
    assert "diff" not in result


def test_check_mode_lists_and_plans_but_adds_nothing(home):
    fake = FakeTool()
    result = _run(home, [PRESENT, MISSING], fake, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["commands"] == ["allow User:app from *: Write, Describe on literal topic alerts"]
    assert [argv[-1] for argv, _env in fake.calls] == ["--list"]
    assert "TOPIC alerts LITERAL: ALLOW User:app WRITE from *" in result["diff"]["after"]
    assert "TOPIC alerts LITERAL: ALLOW User:app WRITE" not in result["diff"]["before"]
    assert "TOPIC camera-events LITERAL: ALLOW User:app WRITE from *" in result["diff"]["before"]


def test_no_change_when_all_are_listed(home):
    fake = FakeTool()
    result = _run(home, [PRESENT], fake)
    assert result["changed"] is False and result["acls_added"] == [] and result["commands"] == []
    assert len(fake.calls) == 1


def test_bad_input_fails_before_any_command(home):
    fake = FakeTool()
    result = _run(home, [PRESENT, dict(MISSING, operations=["Read", "Fly"])], fake)
    assert result["failed"]
    assert "kafka_acls[1]: operation 'Fly' is not a Kafka operation" in result["msg"]
    assert fake.calls == []


def test_nothing_declared_runs_nothing(tmp_path):
    fake = FakeTool()
    result = _run(str(tmp_path / "no-kafka-here"), [], fake)
    assert result["changed"] is False and fake.calls == []


def test_missing_kafka_home_fails(tmp_path):
    result = _run(str(tmp_path), [PRESENT], FakeTool())
    assert result["failed"] and "kafka-run-class.sh is missing or not executable" in result["msg"]


def test_tool_failure_is_reported(home):
    result = _run(home, [MISSING], FakeTool(list_rc=1))
    assert result["failed"] and "listing the ACLs failed (rc 1): Timed out" in result["msg"]
    fake = FakeTool(add_rc=1)
    result = _run(home, [MISSING], fake)
    assert result["failed"] and "adding ACLs (allow User:app from *" in result["msg"] and "add refused" in result["msg"]


def test_through_the_controllers_every_call_uses_bootstrap_controller(home):
    fake = FakeTool()
    node = {"principal": "User:CN=kafka-4", "resource_type": "cluster", "operations": ["ClusterAction"]}
    result = _run(home, [node], fake, bootstrap_controller="10.0.0.1:9093,10.0.0.2:9093",
                  command_config="/etc/kafka/controller-admin.properties")
    assert result["changed"] is True and not result.get("failed")
    argvs = [argv for argv, _env in fake.calls]
    assert len(argvs) == 2
    for argv in argvs:
        assert argv[2:6] == ["--bootstrap-controller", "10.0.0.1:9093,10.0.0.2:9093",
                             "--command-config", "/etc/kafka/controller-admin.properties"]
        assert "--bootstrap-server" not in argv
    assert argvs[1][-4:] == ["ClusterAction", "--resource-pattern-type", "literal", "--cluster"]


def test_one_connection_is_required_and_two_are_refused(home):
    fake = FakeTool()
    both = _run(home, [PRESENT], fake, bootstrap_server="b:9092", bootstrap_controller="c:9093")
    assert both["failed"] and "mutually exclusive" in both["msg"]
    params = dict(acls=[PRESENT], kafka_home=home)
    with mock.patch.object(basic.AnsibleModule, "run_command", fake):
        neither = run_module(kafka_acl, params)
    assert neither["failed"] and "one of the following is required" in neither["msg"]
    assert fake.calls == []
