"""Static checks of the parked kafka role (wip/roles/kafka): pins, argument spec, JMX rules.

The JMX test applies the rules file the way the Prometheus JMX exporter does (first matching
pattern wins, $N substituted, lowercaseOutputName) to HAND-WRITTEN MBean strings in the
exporter's "domain<key=value, ...><>Attribute" form, and checks the names the platform's
alert rules use come out. It does not replace scraping a real broker (see wip/README.md).
"""
import pathlib
import re

import yaml

WIP = pathlib.Path(__file__).resolve().parents[3]
ROOT = WIP.parent
ROLE = WIP / "roles" / "kafka"


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_versions_equal_the_mirror_pins():
    pins = _load(ROOT / "mirror" / "versions.yml")
    defaults = _load(ROLE / "defaults" / "main.yml")
    assert defaults["kafka_version"] == pins["mirror_kafka_version"]
    assert defaults["kafka_scala_version"] == pins["mirror_kafka_scala_version"]
    assert defaults["kafka_jmx_exporter_version"] == pins["mirror_jmx_exporter_version"]


def test_every_default_is_documented_with_type_and_description():
    defaults = _load(ROLE / "defaults" / "main.yml")
    options = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, opt in options.items():
        assert opt.get("type") and opt.get("description"), name
        assert opt["default"] == defaults[name], name


def _rules():
    text = (ROLE / "templates" / "jmx-exporter.yml.j2").read_text(encoding="utf-8")
    assert "{%" not in text  # only ansible_managed is templated
    return _load_text(re.sub(r"\{\{.*?\}\}", "x", text))


def _load_text(text):
    return yaml.safe_load(text)


def _apply(config, bean):
    for rule in config["rules"]:
        m = re.fullmatch(rule["pattern"], bean)
        if m:
            name = re.sub(r"\$(\d+)", lambda g: m.group(int(g.group(1))), rule["name"])
            labels = {k: re.sub(r"\$(\d+)", lambda g: m.group(int(g.group(1))), v) for k, v in rule.get("labels", {}).items()}
            return (name.lower() if config.get("lowercaseOutputName") else name), labels, rule.get("type")
    return None


def _alert_metric_names():
    names = set()
    for f in ("kafka.rules.yml.j2", "queues.rules.yml.j2"):
        text = (ROOT / "roles" / "prometheus" / "templates" / "rules" / f).read_text(encoding="utf-8")
        names |= set(re.findall(r"\b(kafka_(?:server|controller)_[a-z_]*[a-z])\b(?!\*)", text))
    return names


def test_jmx_rules_give_the_names_the_alert_rules_use():
    config = _rules()
    beans = {
        "kafka.server<type=ReplicaManager, name=UnderReplicatedPartitions><>Value":
            ("kafka_server_replicamanager_underreplicatedpartitions", {}),
        "kafka.controller<type=KafkaController, name=OfflinePartitionsCount><>Value":
            ("kafka_controller_kafkacontroller_offlinepartitionscount", {}),
        "kafka.controller<type=KafkaController, name=ActiveControllerCount><>Value":
            ("kafka_controller_kafkacontroller_activecontrollercount", {}),
        "kafka.server<type=BrokerTopicMetrics, name=FailedProduceRequestsPerSec><>Count":
            ("kafka_server_brokertopicmetrics_failedproducerequests_total", {}),
        "kafka.server<type=BrokerTopicMetrics, name=FailedFetchRequestsPerSec><>Count":
            ("kafka_server_brokertopicmetrics_failedfetchrequests_total", {}),
        "kafka.server<type=BrokerTopicMetrics, name=TotalProduceRequestsPerSec><>Count":
            ("kafka_server_brokertopicmetrics_totalproducerequests_total", {}),
        "kafka.server<type=BrokerTopicMetrics, name=TotalFetchRequestsPerSec><>Count":
            ("kafka_server_brokertopicmetrics_totalfetchrequests_total", {}),
        "kafka.server<type=BrokerTopicMetrics, name=MessagesInPerSec, topic=camera-events><>Count":
            ("kafka_server_brokertopicmetrics_messagesin_total", {"topic": "camera-events"}),
    }
    produced = set()
    for bean, (name, labels) in beans.items():
        got = _apply(config, bean)
        assert got is not None, bean
        assert got[0] == name and got[1] == labels, (bean, got)
        produced.add(name)
    wanted = _alert_metric_names()
    assert wanted, "no Kafka metric names found in the prometheus role's rules"
    assert wanted <= produced, sorted(wanted - produced)
