"""Unit tests of the kafka_topic module's pure logic (plugins/module_utils/_kafka_topic_plan.py).

The tool outputs are RECORDED from a real Kafka 4.3.1 broker (tests/unit/fixtures/kafka-4.3.1/,
its README names the exact commands): kafka-topics.sh --describe and kafka.admin.ConfigCommand
--describe --entity-type topics. The only hand-written sample is HANDWRITTEN_OFFLINE (a partition
without a leader, which a healthy one-node recording cannot show), labelled as such.
The module file is loaded by path.
"""
import importlib.util
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[4]
_PATH = _ROOT / "plugins" / "module_utils" / "_kafka_topic_plan.py"
_SPEC = importlib.util.spec_from_file_location("_kafka_topic_plan", _PATH)
kp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kp)

FIXTURES = _ROOT / "tests" / "unit" / "fixtures" / "kafka-4.3.1"


def _recorded(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


# recorded: kafka-topics.sh --describe --exclude-internal / --describe (with __consumer_offsets)
DESCRIBE = _recorded("topics_describe.txt")
DESCRIBE_ALL = _recorded("topics_describe_all.txt")
# recorded: kafka-run-class.sh kafka.admin.ConfigCommand --describe --entity-type topics
CONFIGS = _recorded("configs_topics.txt")

# HAND-WRITTEN (not recorded): one partition without a leader and an ISR of one replica, in the
# recorded format (tab-separated fields, "Leader: none" is what TopicCommand prints for no leader).
HANDWRITTEN_OFFLINE = (
    "Topic: t\tTopicId: 3xBqRr8NTxiYqXQ9a0Yc1g\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: min.insync.replicas=1\n"
    "\tTopic: t\tPartition: 0\tLeader: 2\tReplicas: 1,2\tIsr: 2\tElr: \tLastKnownElr: \n"
    "\tTopic: t\tPartition: 1\tLeader: none\tReplicas: 2,1\tIsr: \tElr: \tLastKnownElr: \n"
)


# --- parsers on recorded output ----------------------------------------------------------

def test_parse_recorded_topics_describe():
    topics = kp.parse_topics_describe(DESCRIBE)
    assert set(topics) == {"alerts", "camera-events", "vehicle-detections"}
    ce = topics["camera-events"]
    assert ce["topic_id"] == "6mvGFkpcQha_pCqrtc9xKw"
    assert ce["partitions"] == 4 and ce["replication_factor"] == 1
    assert [p["partition"] for p in ce["partition_details"]] == [0, 1, 2, 3]
    assert ce["partition_details"][0] == {"partition": 0, "leader": 1, "replicas": [1], "isr": [1]}
    assert topics["alerts"]["partitions"] == 1
    # the Configs: field holds the topic's overrides AND the broker's static settings
    # (min.insync.replicas=1 and unclean.leader.election.enable=false come from server.properties)
    assert topics["vehicle-detections"]["configs"] == {
        "min.insync.replicas": "1", "cleanup.policy": "compact,delete", "retention.ms": "604800000",
        "unclean.leader.election.enable": "false"}
    assert topics["alerts"]["configs"]["max.message.bytes"] == "2097152"


def test_parse_recorded_topics_describe_with_internal_topics():
    topics = kp.parse_topics_describe(DESCRIBE_ALL)
    assert set(topics) == {"__consumer_offsets", "alerts", "camera-events", "vehicle-detections"}
    co = topics["__consumer_offsets"]
    assert co["partitions"] == 50 and len(co["partition_details"]) == 50
    assert co["configs"]["cleanup.policy"] == "compact"


def test_parse_handwritten_offline_partition():
    t = kp.parse_topics_describe(HANDWRITTEN_OFFLINE)["t"]
    assert t["partition_details"][0] == {"partition": 0, "leader": 2, "replicas": [1, 2], "isr": [2]}
    assert t["partition_details"][1]["leader"] is None and t["partition_details"][1]["isr"] == []


def test_parse_topics_describe_empty_and_garbage():
    assert kp.parse_topics_describe("") == {}
    assert kp.parse_topics_describe("WARNING: something the tool said\n") == {}
    with pytest.raises(kp.TopicPlanError, match="cannot parse"):
        kp.parse_topics_describe("Topic: x\tsomething else\n")


def test_parse_recorded_configs_describe():
    assert kp.parse_configs_describe(CONFIGS) == {
        "alerts": {"max.message.bytes": "2097152", "retention.ms": "86400000"},
        "camera-events": {"retention.ms": "604800000"},
        "vehicle-detections": {"cleanup.policy": "compact,delete", "retention.ms": "604800000"},
        "__consumer_offsets": {"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"},
    }


def test_parse_config_list_merges_comma_values():
    # the order Kafka 4.3.1 prints them in (recorded): the static setting first
    assert kp.parse_config_list("min.insync.replicas=1,cleanup.policy=compact,delete,retention.ms=604800000") == {
        "min.insync.replicas": "1", "cleanup.policy": "compact,delete", "retention.ms": "604800000"}
    assert kp.parse_config_list("") == {}


# --- validation ----------------------------------------------------------------------------

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


# --- the plan against the recorded cluster state ---------------------------------------------
# The recorded state is what the module left after creating the three topics and then growing
# camera-events to 4 partitions and setting alerts' retention.ms and max.message.bytes
# (fixtures README); the declaration below is the one that state was made from.

DECLARED = [
    {"name": "camera-events", "partitions": 4, "replication_factor": 1, "configs": {"retention.ms": 604800000}},
    {"name": "vehicle-detections", "partitions": 3, "replication_factor": 1,
     "configs": {"retention.ms": 604800000, "cleanup.policy": ["compact", "delete"]}},
    {"name": "alerts", "partitions": 1, "replication_factor": 1,
     "configs": {"retention.ms": 86400000, "max.message.bytes": 2097152}},
]


def _actual():
    return kp.parse_topics_describe(DESCRIBE), kp.parse_configs_describe(CONFIGS)


def test_plan_no_change_on_the_recorded_state_it_was_made_from():
    topics, configs = _actual()
    p = kp.plan(_validated(DECLARED, brokers=1), topics, configs)
    assert p["changed"] is False
    assert [t["action"] for t in p["topics"]] == ["none", "none", "none"]
    assert kp.commands(p, "/opt/kafka/current", "10.0.0.1:9092") == []
    assert p["diff"]["before"] == p["diff"]["after"]


def test_plan_never_takes_the_brokers_static_settings_for_overrides():
    # camera-events' Configs: field (recorded) lists min.insync.replicas=1 and
    # unclean.leader.election.enable=false from server.properties; they are not overrides and a
    # purge must not touch them, whether or not the configs describe knows the topic.
    topics, configs = _actual()
    declared = _validated([DECLARED[0]], brokers=1)
    for actual_configs in (configs, {}, None):
        p = kp.plan(declared, topics, actual_configs, purge_configs=True)
        assert p["topics"][0]["delete_configs"] == []
        assert "min.insync.replicas" not in p["diff"]["before"]


def test_plan_create_grow_and_configure():
    topics, configs = _actual()
    declared = _validated([
        {"name": "camera-events", "partitions": 6, "replication_factor": 1, "configs": {"retention.ms": 86400000}},
        {"name": "vehicle.detections", "partitions": 3, "replication_factor": 1, "configs": {"retention.ms": 604800000}},
    ], brokers=1)
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
    # the class exists in Kafka 4.3.1's libs/kafka_2.13-4.3.1.jar
    assert argvs[1][:2] == ["/opt/kafka/current/bin/kafka-run-class.sh", "kafka.admin.ConfigCommand"]
    assert argvs[1][-7:] == ["--alter", "--entity-type", "topics", "--entity-name", "camera-events",
                             "--add-config", "retention.ms=86400000"]
    assert "--create" in argvs[2] and "retention.ms=604800000" in argvs[2] and "vehicle.detections" in argvs[2]
    assert "partitions 4 -> 6" in " ".join(ce["changes"])
    assert "vehicle.detections: partitions=3" in p["diff"]["after"]
    assert "vehicle.detections" not in p["diff"]["before"]


def test_plan_alter_escapes_dots_in_the_topic_regex():
    topics = kp.parse_topics_describe(DESCRIBE.replace("camera-events", "camera.events"))
    p = kp.plan(_validated([{"name": "camera.events", "partitions": 5, "replication_factor": 1}], brokers=1), topics, {})
    assert ["--topic", "camera\\.events"] == kp.commands(p, "/k", "b:9092")[0][1][-4:-2]


def test_plan_refuses_partition_decrease_naming_topic_and_variable():
    topics, configs = _actual()
    declared = _validated([{"name": "camera-events", "partitions": 2, "replication_factor": 1}], brokers=1)
    with pytest.raises(kp.TopicPlanError) as err:
        kp.plan(declared, topics, configs)
    assert "kafka_topics[0] ('camera-events'): partitions 2 is below the topic's current 4" in str(err.value)


def test_plan_refuses_replication_factor_change():
    topics, configs = _actual()
    declared = _validated([{"name": "alerts", "partitions": 1, "replication_factor": 3}])
    with pytest.raises(kp.TopicPlanError) as err:
        kp.plan(declared, topics, configs)
    assert "kafka_topics[0] ('alerts'): replication_factor 3 differs from the topic's current 1" in str(err.value)
    assert "kafka-reassign-partitions" in str(err.value)


def test_plan_keeps_undeclared_overrides_unless_purged():
    topics, configs = _actual()
    declared = _validated([{"name": "alerts", "partitions": 1, "replication_factor": 1,
                            "configs": {"retention.ms": 86400000}}], brokers=1)
    assert kp.plan(declared, topics, configs)["changed"] is False
    p = kp.plan(declared, topics, configs, purge_configs=True)
    assert p["topics"][0]["delete_configs"] == ["max.message.bytes"]
    argv = kp.commands(p, "/k", "b:9092")[0][1]
    assert argv[-2:] == ["--delete-config", "max.message.bytes"]


def test_plan_set_config_with_commas_uses_brackets():
    topics, configs = _actual()
    declared = _validated([{"name": "alerts", "partitions": 1, "replication_factor": 1,
                            "configs": {"retention.ms": 86400000, "max.message.bytes": 2097152,
                                        "cleanup.policy": ["delete", "compact"]}}], brokers=1)
    argv = kp.commands(kp.plan(declared, topics, configs), "/k", "b:9092")[0][1]
    # kafka-configs --add-config groups a value with commas in square brackets (its --help, 4.3.1)
    assert argv[-2:] == ["--add-config", "cleanup.policy=[delete,compact]"]


def test_plan_cleanup_policy_order_matters_as_recorded():
    # vehicle-detections was created with cleanup.policy compact,delete; Kafka reports it as given
    topics, configs = _actual()
    same = _validated([DECLARED[1]], brokers=1)
    assert kp.plan(same, topics, configs)["changed"] is False


def test_plan_absent_refuses_to_delete_an_existing_topic_without_allow_delete():
    topics, configs = _actual()
    declared = _validated([{"name": "camera-events", "partitions": 3}, {"name": "alerts", "state": "absent"}])
    with pytest.raises(kp.TopicPlanError) as err:
        kp.plan(declared, topics, configs)
    assert "kafka_topics[1] ('alerts')" in str(err.value)
    assert "allow_delete" in str(err.value) and "deletes their data" in str(err.value)
    # a topic that does not exist is absent already: nothing to refuse
    assert kp.plan(_validated([{"name": "nope", "state": "absent"}]), topics, configs)["changed"] is False


def test_plan_absent():
    topics, configs = _actual()
    p = kp.plan(_validated([{"name": "alerts", "state": "absent"}, {"name": "nope", "state": "absent"}]), topics, configs,
                allow_delete=True)
    assert [t["action"] for t in p["topics"]] == ["delete", "none"]
    assert kp.commands(p, "/k", "b:9092")[0][1][-3:] == ["--delete", "--topic", "alerts"]
