"""Unit tests of the kafka_topic module's pure logic (wip/plugins/module_utils/_kafka_topic_plan.py).

The tool outputs below are HAND-WRITTEN samples in the format of the Kafka 4.x tools
(kafka-topics.sh --describe, kafka.admin.ConfigCommand --describe), not recorded from a
broker: replace them with recorded output once a real cluster has run (see wip/README.md).
The module file is loaded by path, so the tests run from wip/ as well as after a git mv.
"""
import importlib.util
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "module_utils" / "_kafka_topic_plan.py"
_SPEC = importlib.util.spec_from_file_location("_kafka_topic_plan", _PATH)
kp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kp)

DESCRIBE = (
    "Topic: camera-events\tTopicId: 3xBqRr8NTxiYqXQ9a0Yc1g\tPartitionCount: 3\tReplicationFactor: 2\t"
    "Configs: cleanup.policy=compact,delete,min.insync.replicas=2,retention.ms=604800000\n"
    "\tTopic: camera-events\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\tElr: \tLastKnownElr: \n"
    "\tTopic: camera-events\tPartition: 1\tLeader: 2\tReplicas: 2,3\tIsr: 2\tElr: \tLastKnownElr: \n"
    "\tTopic: camera-events\tPartition: 2\tLeader: none\tReplicas: 3,1\tIsr: \tElr: \tLastKnownElr: \n"
    "Topic: alerts\tTopicId: q0b1Zk3bR7mS1u2v3w4x5A\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: \n"
    "\tTopic: alerts\tPartition: 0\tLeader: 3\tReplicas: 3,1\tIsr: 3,1\tElr: \tLastKnownElr: \n"
)

CONFIGS = (
    "Dynamic configs for topic camera-events are:\n"
    "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, "
    "DEFAULT_CONFIG:log.cleanup.policy=delete}\n"
    "  min.insync.replicas=2 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2, "
    "STATIC_BROKER_CONFIG:min.insync.replicas=2, DEFAULT_CONFIG:min.insync.replicas=1}\n"
    "  retention.ms=604800000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=604800000}\n"
    "Dynamic configs for topic alerts are:\n"
)


def test_parse_topics_describe():
    topics = kp.parse_topics_describe(DESCRIBE)
    assert set(topics) == {"camera-events", "alerts"}
    ce = topics["camera-events"]
    assert ce["partitions"] == 3 and ce["replication_factor"] == 2
    assert ce["configs"] == {"cleanup.policy": "compact,delete", "min.insync.replicas": "2", "retention.ms": "604800000"}
    assert ce["partition_details"][0] == {"partition": 0, "leader": 1, "replicas": [1, 2], "isr": [1, 2]}
    assert ce["partition_details"][1]["isr"] == [2]
    assert ce["partition_details"][2]["leader"] is None and ce["partition_details"][2]["isr"] == []
    assert topics["alerts"]["configs"] == {}


def test_parse_topics_describe_empty_and_garbage():
    assert kp.parse_topics_describe("") == {}
    assert kp.parse_topics_describe("WARNING: something the tool said\n") == {}
    with pytest.raises(kp.TopicPlanError, match="cannot parse"):
        kp.parse_topics_describe("Topic: x\tsomething else\n")


def test_parse_configs_describe():
    configs = kp.parse_configs_describe(CONFIGS)
    assert configs == {
        "camera-events": {"cleanup.policy": "compact,delete", "min.insync.replicas": "2", "retention.ms": "604800000"},
        "alerts": {},
    }


def test_parse_config_list_merges_comma_values():
    assert kp.parse_config_list("cleanup.policy=compact,delete,retention.ms=1") == {
        "cleanup.policy": "compact,delete", "retention.ms": "1"}
    assert kp.parse_config_list("") == {}


def _validated(topics, brokers=3):
    return kp.validate_topics(topics, brokers)


def test_validate_normalizes_values():
    out = _validated([{"name": "t", "partitions": "6", "replication_factor": 2,
                       "configs": {"retention.ms": 604800000, "cleanup.policy": ["compact", "delete"],
                                   "unclean.leader.election.enable": False}}])
    assert out[0]["partitions"] == 6
    assert out[0]["configs"] == {"retention.ms": "604800000", "cleanup.policy": "compact,delete",
                                 "unclean.leader.election.enable": "false"}


def test_validate_defaults_rf_to_min_3_brokers():
    assert _validated([{"name": "t"}], brokers=2)[0]["replication_factor"] == 2
    assert _validated([{"name": "t"}], brokers=5)[0]["replication_factor"] == 3


@pytest.mark.parametrize("topic, expected", [
    ({"name": "t", "replication_factor": 4}, "kafka_topics[0] ('t'): replication_factor 4 is above the number of brokers (3)"),
    ({"name": "t", "configs": {"retention.ms": -5}}, "kafka_topics[0] ('t'): configs.retention.ms must be -1 (unlimited)"),
    ({"name": "t", "partitions": 0}, "kafka_topics[0] ('t'): partitions must be a whole number >= 1"),
    ({"name": "bad name"}, "kafka_topics[0] ('bad name'): name must be"),
    ({"name": "t", "configs": {"cleanup.policy": "forever"}}, "configs.cleanup.policy must be delete, compact or both"),
    ({"name": "t", "replication_factor": 2, "configs": {"min.insync.replicas": 3}}, "above the topic's replication_factor"),
    ({"name": "t", "state": "gone"}, "state must be present or absent"),
    ({"name": "t", "partitons": 3}, "unknown keys partitons"),
])
def test_validate_refuses_bad_input_naming_the_variable(topic, expected):
    with pytest.raises(kp.TopicPlanError) as err:
        _validated([topic])
    assert expected in str(err.value)


def test_validate_refuses_duplicates_and_collects_all_errors():
    with pytest.raises(kp.TopicPlanError) as err:
        _validated([{"name": "a"}, {"name": "a"}, {"name": "b", "replication_factor": 9}])
    assert "kafka_topics[1] ('a'): topic declared twice" in str(err.value)
    assert "kafka_topics[2] ('b')" in str(err.value)


def test_validate_accepts_unlimited_retention():
    assert _validated([{"name": "t", "configs": {"retention.ms": -1}}])[0]["configs"]["retention.ms"] == "-1"


def _actual():
    return kp.parse_topics_describe(DESCRIBE), kp.parse_configs_describe(CONFIGS)


def test_plan_no_change_when_equal():
    topics, configs = _actual()
    declared = _validated([{"name": "camera-events", "partitions": 3, "replication_factor": 2,
                            "configs": {"retention.ms": 604800000, "cleanup.policy": "compact,delete"}}])
    p = kp.plan(declared, topics, configs)
    assert p["changed"] is False
    assert p["topics"][0]["action"] == "none"
    assert kp.commands(p, "/opt/kafka/current", "10.0.0.1:9092") == []
    assert p["diff"]["before"] == p["diff"]["after"]


def test_plan_create_grow_and_configure():
    topics, configs = _actual()
    declared = _validated([
        {"name": "camera-events", "partitions": 6, "replication_factor": 2, "configs": {"retention.ms": 86400000}},
        {"name": "vehicle.detections", "partitions": 3, "replication_factor": 2, "configs": {"retention.ms": 604800000}},
    ])
    p = kp.plan(declared, topics, configs)
    assert p["changed"] is True
    ce, vd = p["topics"]
    assert ce["action"] == "update" and ce["add_partitions"] == 6 and ce["set_configs"] == {"retention.ms": "86400000"}
    assert vd["action"] == "create"
    cmds = kp.commands(p, "/opt/kafka/current", "10.0.0.1:9092", "/etc/kafka/admin.properties")
    argvs = [c[1] for c in cmds]
    assert argvs[0][-5:] == ["--alter", "--topic", "camera-events", "--partitions", "6"]
    assert argvs[0][:5] == ["/opt/kafka/current/bin/kafka-topics.sh", "--bootstrap-server", "10.0.0.1:9092",
                            "--command-config", "/etc/kafka/admin.properties"]
    assert argvs[1][1] == "kafka.admin.ConfigCommand" and "retention.ms=86400000" in argvs[1]
    assert "--create" in argvs[2] and "retention.ms=604800000" in argvs[2] and "vehicle.detections" in argvs[2]
    assert "partitions 3 -> 6" in " ".join(ce["changes"])
    assert "vehicle.detections: partitions=3" in p["diff"]["after"]
    assert "vehicle.detections" not in p["diff"]["before"]


def test_plan_alter_escapes_dots_in_the_topic_regex():
    topics = kp.parse_topics_describe(DESCRIBE.replace("camera-events", "camera.events"))
    p = kp.plan(_validated([{"name": "camera.events", "partitions": 4, "replication_factor": 2}]), topics, {})
    assert ["--topic", "camera\\.events"] == kp.commands(p, "/k", "b:9092")[0][1][-4:-2]


def test_plan_refuses_partition_decrease_naming_topic_and_variable():
    topics, configs = _actual()
    declared = _validated([{"name": "camera-events", "partitions": 2, "replication_factor": 2}])
    with pytest.raises(kp.TopicPlanError) as err:
        kp.plan(declared, topics, configs)
    assert "kafka_topics[0] ('camera-events'): partitions 2 is below the topic's current 3" in str(err.value)


def test_plan_refuses_replication_factor_change():
    topics, configs = _actual()
    declared = _validated([{"name": "alerts", "partitions": 1, "replication_factor": 3}])
    with pytest.raises(kp.TopicPlanError) as err:
        kp.plan(declared, topics, configs)
    assert "kafka_topics[0] ('alerts'): replication_factor 3 differs from the topic's current 2" in str(err.value)
    assert "kafka-reassign-partitions" in str(err.value)


def test_plan_keeps_undeclared_overrides_unless_purged():
    topics, configs = _actual()
    declared = _validated([{"name": "camera-events", "partitions": 3, "replication_factor": 2,
                            "configs": {"retention.ms": 604800000}}])
    assert kp.plan(declared, topics, configs)["changed"] is False
    p = kp.plan(declared, topics, configs, purge_configs=True)
    assert p["topics"][0]["delete_configs"] == ["cleanup.policy", "min.insync.replicas"]
    argv = kp.commands(p, "/k", "b:9092")[0][1]
    assert argv[-2:] == ["--delete-config", "cleanup.policy,min.insync.replicas"]


def test_plan_set_config_with_commas_uses_brackets():
    topics, configs = _actual()
    declared = _validated([{"name": "alerts", "partitions": 1, "replication_factor": 2,
                            "configs": {"cleanup.policy": ["delete", "compact"]}}])
    argv = kp.commands(kp.plan(declared, topics, configs), "/k", "b:9092")[0][1]
    assert "cleanup.policy=[delete,compact]" in argv


def test_plan_absent():
    topics, configs = _actual()
    p = kp.plan(_validated([{"name": "alerts", "state": "absent"}, {"name": "nope", "state": "absent"}]), topics, configs)
    assert [t["action"] for t in p["topics"]] == ["delete", "none"]
    assert kp.commands(p, "/k", "b:9092")[0][1][-2:] == ["--topic", "alerts"]
