"""Static checks of the kafka role (roles/kafka): pins, argument spec, JMX rules, and
the role's Jinja parsing of tool output, on output RECORDED from a real Kafka 4.3.1 broker
(tests/unit/fixtures/kafka-4.3.1/, its README names the commands).

- The JMX rules: the recorded /metrics scrape (jmx_prometheus_javaagent 1.0.1 with the role's
  rules file on a Kafka 4.3.1 broker) holds every metric name the platform's Kafka alert and queue
  rules use, with the labels those rules expect. A second test applies the rules file the way the
  exporter does (first matching pattern wins, $N substituted, lowercaseOutputName) to HAND-WRITTEN
  MBean strings in the exporter's "domain<key=value, ...><>Attribute" form; each hand-written bean
  is checked against the MBean the recorded scrape's HELP line names.
- The meta.properties parsing and checks and the cluster state file (tasks/cluster_id.yml), the
  gate (tasks/gate.yml) and the SCRAM user check (tasks/users.yml): their own expressions, read
  from the task files and evaluated with Ansible's templar against the recorded output. (The
  ACLs: tests/unit/plugins/module_utils/test_kafka_acl_plan.py.)
"""
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "kafka"
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "kafka-4.3.1"


def _recorded(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def _load(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_versions_equal_the_mirror_pins():
    pins = _load(ROOT / "mirror" / "versions.yml")
    defaults = _load(ROLE / "defaults" / "main.yml")
    assert defaults["kafka_version"] == pins["mirror_kafka_version"]
    assert defaults["kafka_scala_version"] == pins["mirror_kafka_scala_version"]
    assert defaults["kafka_jmx_exporter_version"] == pins["mirror_jmx_exporter_version"]
    assert defaults["kafka_lag_exporter_version"] == pins["mirror_consumer_lag_exporter_version"]


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


def _samples(text):
    """Prometheus text format -> [(name, {label: value}, value)] (no escapes in these labels)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_recorded_scrape_has_every_name_the_alert_rules_use():
    samples = _samples(_recorded("metrics_alert_series.txt"))
    names = {name for name, _labels, _value in samples}
    wanted = _alert_metric_names()
    assert len(wanted) == 8, sorted(wanted)
    assert wanted <= names, sorted(wanted - names)
    by_name = {}
    for n, labels, value in samples:
        by_name.setdefault(n, []).append(labels)
    # the healthy single node: one active controller, nothing offline or under-replicated
    values = {n: v for n, labels, v in samples if not labels}
    assert values["kafka_controller_kafkacontroller_activecontrollercount"] == 1
    assert values["kafka_controller_kafkacontroller_offlinepartitionscount"] == 0
    assert values["kafka_server_replicamanager_underreplicatedpartitions"] == 0
    # queues.rules.yml: rate(kafka_server_brokertopicmetrics_messagesin_total{topic!=""}) per topic
    assert {"topic": "camera-events"} in by_name["kafka_server_brokertopicmetrics_messagesin_total"]
    # kafka.rules.yml KafkaFailedRequests sums these by instance: broker-wide series only
    for n in ("failedproducerequests", "failedfetchrequests", "totalproducerequests", "totalfetchrequests"):
        assert by_name["kafka_server_brokertopicmetrics_%s_total" % n] == [{}], n


def test_the_excluded_mbeans_are_the_per_topic_request_meters_kafka_registers():
    # recorded before excludeObjectNames was added: Kafka 4.3.1 registers the request meters per
    # topic too, which gave the same names with a topic label (counted twice by KafkaFailedRequests)
    before = _samples(_recorded("metrics_alert_series_before_exclude.txt"))
    per_topic = {name for name, labels, _value in before if "topic" in labels}
    assert {"kafka_server_brokertopicmetrics_totalproducerequests_total",
            "kafka_server_brokertopicmetrics_totalfetchrequests_total"} <= per_topic
    excluded = _rules()["excludeObjectNames"]
    for meter in ("TotalProduceRequestsPerSec", "TotalFetchRequestsPerSec", "FailedProduceRequestsPerSec",
                  "FailedFetchRequestsPerSec"):
        assert "kafka.server:type=BrokerTopicMetrics,name=%s,topic=*" % meter in excluded
    assert not any("MessagesIn" in e for e in excluded)


def _recorded_mbeans():
    """metric name -> the MBean the recorded scrape's HELP line names, as {domain, keys, attribute}."""
    out = {}
    for line in _recorded("metrics_alert_series.txt").splitlines():
        m = re.match(r"^# HELP (\S+) Attribute exposed for management ([^:]+):(\S+)$", line)
        if m:
            keys = dict(kv.split("=", 1) for kv in m.group(3).split(","))
            out[m.group(1)] = {"domain": m.group(2), "attribute": keys.pop("attribute"), "keys": keys}
    return out


def test_jmx_rules_give_the_names_the_alert_rules_use():
    config = _rules()
    # HAND-WRITTEN bean strings in the exporter's rule-matching form; their domain, keys and
    # attribute are checked against the MBeans the recorded scrape names below.
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
    recorded = _recorded_mbeans()
    produced = set()
    for bean, (name, labels) in beans.items():
        got = _apply(config, bean)
        assert got is not None, bean
        assert got[0] == name and got[1] == labels, (bean, got)
        produced.add(name)
        m = re.match(r"^([^<]+)<(.*)><>(\w+)$", bean)
        keys = dict(kv.split("=", 1) for kv in m.group(2).split(", "))
        keys.pop("topic", None)
        assert recorded[name] == {"domain": m.group(1), "attribute": m.group(3), "keys": keys}, name
    wanted = _alert_metric_names()
    assert wanted, "no Kafka metric names found in the prometheus role's rules"
    assert wanted <= produced, sorted(wanted - produced)


# --- the role's Jinja parsing, evaluated on recorded output -----------------------------------

def _task(tasks_file, name_part):
    for task in _load(ROLE / "tasks" / tasks_file):
        if name_part.lower() in task.get("name", "").lower():
            return task
    raise AssertionError("no task %r in %s" % (name_part, tasks_file))


def _templar(variables):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    trusted = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    return Templar(loader=DataLoader(), variables=trusted), trust_as_template


def _condition(expr, variables):
    templar, trust = _templar(variables)
    return templar.template(trust("{{ (" + expr.strip() + ") | bool }}"))


def test_gate_quorum_caught_up_on_recorded_replication_output():
    until = _task("gate.yml", "the controller quorum caught up")["until"]
    out = _recorded("quorum_replication.txt")
    variables = {"kafka_rolling_restart_max_quorum_lag": 10}
    assert _condition(until, dict(variables, _kafka_gate_quorum={"rc": 0, "stdout_lines": out.splitlines()}))
    # HAND-WRITTEN variation of the recorded output: an observer 50 records behind the leader
    lagging = out + "4     \tpl6q_8SSRkvp7waxDvDAww\t1685        \t50 \t1796285948810     \t1796285948810        \tObserver\t\n"
    assert not _condition(until, dict(variables, _kafka_gate_quorum={"rc": 0, "stdout_lines": lagging.splitlines()}))
    assert not _condition(until, dict(variables, _kafka_gate_quorum={"rc": 1, "stdout_lines": []}))


def test_gate_partitions_on_recorded_describe_output():
    until = _task("gate.yml", "no under-replicated or offline partition")["until"]
    # --under-replicated-partitions / --unavailable-partitions printed nothing on the healthy node
    assert _condition(until, {"_kafka_gate_partitions": {"rc": 0, "stdout_lines": []}})
    # any partition line (the recorded describe output's) fails the gate
    lines = _recorded("topics_describe.txt").splitlines()
    assert not _condition(until, {"_kafka_gate_partitions": {"rc": 0, "stdout_lines": lines}})


@pytest.mark.parametrize("user, mechanism, missing", [
    ({"name": "app", "password": "x"}, "SCRAM-SHA-512", False),
    ({"name": "stranger", "password": "x"}, "SCRAM-SHA-512", False),
    ({"name": "ap", "password": "x"}, "SCRAM-SHA-512", True),
    ({"name": "a.p", "password": "x"}, "SCRAM-SHA-512", True),
    ({"name": "newcomer", "password": "x"}, "SCRAM-SHA-512", True),
    ({"name": "app", "password": "x"}, "SCRAM-SHA-256", True),
    ({"name": "app", "password": "x", "update_password": "always"}, "SCRAM-SHA-512", True),
])
def test_scram_users_on_the_recorded_user_list(user, mechanism, missing):
    task = _task("users.yml", "Set the SCRAM users' passwords")
    variables = {"item": user, "kafka_sasl_mechanism": mechanism,
                 "_kafka_user_list": {"stdout_lines": _recorded("configs_users.txt").splitlines()}}
    assert _condition(task["when"], variables) is missing


def _meta_facts(content, node_id):
    import base64

    parse = _task("cluster_id.yml", "Parse this host's meta.properties")["ansible.builtin.set_fact"]["_kafka_meta"]
    read = {"results": [{"item": "/var/lib/kafka/data", "content": base64.b64encode(content.encode()).decode()},
                        {"item": "/var/lib/kafka/new", "failed": True}]}
    templar, trust = _templar({"_kafka_meta_read": read})
    meta = templar.template(trust(parse))
    check = _task("cluster_id.yml", "formatted directories agree with it")["ansible.builtin.assert"]["that"]
    ok = all(_condition(c, {"_kafka_meta": meta, "_kafka_node_id": node_id}) for c in check)
    ids_expr = _task("cluster_id.yml", "Gather the cluster ids already on disk")["ansible.builtin.set_fact"]["_kafka_ids_on_disk"]
    templar, trust = _templar({"_kafka_all_hosts": ["kafka-1"], "hostvars": {"kafka-1": {"_kafka_meta": meta}}})
    return meta, ok, templar.template(trust(ids_expr))


def test_recorded_meta_properties_is_read_and_checked():
    meta, ok, ids = _meta_facts(_recorded("meta.properties"), 1)
    assert meta == {"/var/lib/kafka/data": {"node_id": "1", "directory_id": "_J79xxQcSNKC_x0byJ7Gbw", "version": "1",
                                            "cluster_id": "TGcWW5nWQHqSSlkH9GzpaQ"}}
    assert ok is True
    assert ids == ["TGcWW5nWQHqSSlkH9GzpaQ"]
    # another node id on this host: the play stops
    assert _meta_facts(_recorded("meta.properties"), 2)[1] is False


def _write_state(path, controllers, cluster_id=""):
    import json
    import subprocess
    import sys
    script = _task("cluster_id.yml", "Write the cluster state on the controller")["ansible.builtin.command"]["argv"][2]
    out = subprocess.run([sys.executable, "-c", script, str(path), cluster_id, json.dumps(controllers)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip(), json.loads(path.read_text())


def test_the_cluster_state_follows_the_inventory_until_the_first_format(tmp_path):
    path = tmp_path / "secrets" / "kafka-cluster.json"
    first = [{"id": 1, "address": "172.18.0.2", "port": 9093}, {"id": 2, "address": "172.18.0.3", "port": 9093}]
    said, state = _write_state(path, first)
    assert said == "changed" and path.stat().st_mode & 0o777 == 0o600
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", state["cluster_id"])
    entries = state["initial_controllers"].split(",")
    assert [e.rsplit(":", 1)[0] for e in entries] == ["1@172.18.0.2:9093", "2@172.18.0.3:9093"]
    # the same inventory again: nothing written
    assert _write_state(path, first) == ("", state)
    # the hosts were rebuilt with new addresses before any was formatted: the addresses follow,
    # the cluster id and each node's directory id stay
    moved = [{"id": 1, "address": "172.19.0.2", "port": 9093}, {"id": 2, "address": "172.19.0.3", "port": 9093}]
    said, again = _write_state(path, moved)
    assert said == "changed" and again["cluster_id"] == state["cluster_id"]
    assert [e.split(":", 1)[0] for e in again["initial_controllers"].split(",")] == ["1@172.19.0.2", "2@172.19.0.3"]
    assert [e.rsplit(":", 1)[1] for e in again["initial_controllers"].split(",")] == [e.rsplit(":", 1)[1] for e in entries]
    # an operator's kafka_cluster_id wins over a generated one
    assert _write_state(path, moved, "AAAAAAAAAAAAAAAAAAAAAA")[1]["cluster_id"] == "AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize("task", ["no under-replicated or offline partition", "the controller quorum caught up"])
@pytest.mark.parametrize("variables, expected", [
    ({"_kafka_gate_retries": 0}, 1),
    ({"_kafka_gate_retries": 1}, 1),
    ({"kafka_rolling_restart_timeout": 20}, 10),
    ({"kafka_rolling_restart_timeout": 3}, 1),
])
def test_a_gate_always_has_a_retry_so_that_it_can_fail(task, variables, expected):
    # Ansible marks an `until` task failed only when it ran out of retries; with retries 0 a
    # failed condition passes silently (found by the kafka scenario: a broker was down and the
    # rolling restart went on)
    gate = _task("gate.yml", task)
    role_vars = {k: v for k, v in _load(ROLE / "vars" / "main.yml").items() if k.startswith("_kafka_gate_")}
    templar, trust = _templar(dict(role_vars, **dict({"kafka_rolling_restart_timeout": 600}, **variables)))
    assert int(templar.template(trust(gate["retries"]))) == expected
    assert int(templar.template(trust(gate["delay"]))) == 2
