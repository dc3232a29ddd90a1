# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module-level tests of kafka_topic: main() in-process (test_duckdb_harness.run_module) with
AnsibleModule.run_command replaced by a fake that answers the two describes with output RECORDED
from a real Kafka 4.3.1 broker (tests/unit/fixtures/kafka-4.3.1/topics_describe_all.txt and
configs_topics.txt) and records every argv. No JVM runs; the plan itself is tested in
test_kafka_topic_plan.py.
"""

import pathlib
from unittest import mock

import pytest
from ansible.module_utils import basic

from test_duckdb_harness import run_module  # same directory; pytest puts it on sys.path

from ansible_collections.groundwork.platform.plugins.modules import kafka_topic

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "kafka-4.3.1"
TOPICS = (FIXTURES / "topics_describe_all.txt").read_text(encoding="utf-8")
CONFIGS = (FIXTURES / "configs_topics.txt").read_text(encoding="utf-8")
# as the recorded broker has it: 1 partition, replication factor 1, retention.ms 86400000
ALERTS = {"name": "alerts", "partitions": 1, "replication_factor": 1, "configs": {"retention.ms": 86400000, "max.message.bytes": 2097152}}


@pytest.fixture
def home(tmp_path):
    (tmp_path / "bin").mkdir()
    for name in ("kafka-topics.sh", "kafka-run-class.sh"):
        tool = tmp_path / "bin" / name
        tool.write_text("#!/bin/sh\nexit 99\n")  # never run: run_command is faked
        tool.chmod(0o755)
    return str(tmp_path)


class FakeTool:
    """Stands in for AnsibleModule.run_command: the describes print the recorded output."""

    def __init__(self, describe_rc=0):
        self.calls = []
        self.describe_rc = describe_rc

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        if "--describe" in argv:
            if self.describe_rc:
                return (self.describe_rc, "", "Timed out waiting for a node assignment")
            return (0, CONFIGS if "kafka.admin.ConfigCommand" in argv else TOPICS, "")
        return (0, "", "")


def _run(home, topics, fake, check_mode=False, diff=False):
    params = dict(topics=topics, bootstrap_server="127.0.0.1:19092", command_config="/etc/kafka/admin-client.properties",
                  kafka_home=home, broker_count=1, var_name="kafka_topics")
    with mock.patch.object(basic.AnsibleModule, "run_command", fake):
        return run_module(kafka_topic, params, check_mode=check_mode, diff=diff)


def test_a_topic_as_declared_changes_nothing_after_two_describes(home):
    fake = FakeTool()
    result = _run(home, [ALERTS], fake)
    assert result["changed"] is False and result["commands"] == [], result
    assert [argv[:3] for argv in fake.calls] == [[home + "/bin/kafka-topics.sh", "--bootstrap-server", "127.0.0.1:19092"],
                                                 [home + "/bin/kafka-run-class.sh", "kafka.admin.ConfigCommand", "--bootstrap-server"]]
    assert all("--command-config" in argv for argv in fake.calls)


def test_a_new_topic_is_created_and_check_mode_only_describes(home):
    new = {"name": "clips", "partitions": 2, "replication_factor": 1}
    fake = FakeTool()
    result = _run(home, [ALERTS, new], fake, check_mode=True)
    assert result["changed"] is True and len(result["commands"]) == 1 and "clips" in result["commands"][0]
    assert len(fake.calls) == 2
    fake = FakeTool()
    result = _run(home, [ALERTS, new], fake)
    assert len(fake.calls) == 3 and "--create" in fake.calls[2] and "clips" in fake.calls[2]


def test_a_partition_decrease_is_refused_before_any_change(home):
    fake = FakeTool()
    result = _run(home, [{"name": "camera-events", "partitions": 2, "replication_factor": 1}], fake)
    assert result["failed"] and "kafka_topics[0]" in result["msg"]
    assert all("--describe" in argv for argv in fake.calls)


def test_a_failed_describe_names_what_failed(home):
    result = _run(home, [ALERTS], FakeTool(describe_rc=1))
    assert result["failed"] and "kafka_topic: describing the topics failed (rc 1): Timed out" in result["msg"]


def test_missing_tools_fail(tmp_path):
    result = _run(str(tmp_path), [ALERTS], FakeTool())
    assert result["failed"] and "kafka-topics.sh is missing or not executable (kafka_home)" in result["msg"]
