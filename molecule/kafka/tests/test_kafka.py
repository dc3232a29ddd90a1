"""The kafka scenario: a real client over TLS+SCRAM, ACLs, topics, storage safety, broker
loss and the gated rolling restart."""
import os
import pathlib
import re
import time
import uuid

import pytest
from conftest import NODES, TOOL, TOPICS, Client, address, host_of
from gwtest import failures, playbook, secret, started, wait_for

SCENARIO = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
ROLLING = SCENARIO.parents[1] / "playbooks" / "kafka_rolling_restart.yml"


def _started(host):
    return started(host, "kafka")


# --- phase 0: steady state -----------------------------------------------------------------

def test_every_node_runs_as_kafka_with_a_hardened_unit(hosts):
    for h in hosts.values():
        svc = h.service("kafka")
        assert svc.is_running and svc.is_enabled
        assert h.process.filter(user="kafka", comm="java")
        assert h.run("systemctl show -p ProtectSystem --value kafka").stdout.strip() == "strict"
        assert h.file("/etc/kafka/server.properties").mode == 0o640
        # the scenario's kafka_server_properties override wins over the role's default (3000)
        assert "\ngroup.initial.rebalance.delay.ms=0\n" in h.file("/etc/kafka/server.properties").content_string


def test_message_produced_on_one_broker_is_consumed_from_another(app):
    marker = uuid.uuid4().hex
    out = app["kafka-1"].produce("camera-events", [f"event-{marker}"])
    assert out.rc == 0, out.stderr
    # the first record of the topic (the first test that writes to it): the consumer stops at it,
    # or after a minute without records on a machine too busy to deliver it sooner
    got = app["kafka-3"].consume("camera-events", 1, f"app-{marker}", timeout_ms=60000)
    assert f"event-{marker}" in got.stdout, got.stderr[-2000:]


def test_a_user_without_acl_is_refused(hosts, addresses):
    stranger = Client(hosts["kafka-2"], "stranger", secret("kafka_stranger_password"), f"{addresses['kafka-2']}:9092")
    out = stranger.produce("camera-events", ["should-not-land"])
    assert "TopicAuthorizationException" in out.stdout + out.stderr or "Not authorized" in out.stdout + out.stderr


def test_plaintext_and_wrong_password_are_refused(hosts, addresses):
    h = hosts["kafka-1"]
    bad = Client(h, "app", "wrong-password-123", f"{addresses['kafka-1']}:9092", name="app-wrong-password")
    out = bad.topics("--list")
    assert out.rc != 0 and "Authentication failed" in out.stdout + out.stderr


def test_topics_match_the_declaration(admin):
    out = admin.topics("--describe", "--exclude-internal")
    assert out.rc == 0, out.stderr
    for name, partitions in TOPICS.items():
        m = re.search(rf"Topic: {name}\tTopicId: \S+\tPartitionCount: (\d+)\tReplicationFactor: (\d+)\tConfigs: (.*)", out.stdout)
        assert m, out.stdout
        assert int(m.group(1)) == partitions and int(m.group(2)) == 2
        assert "retention.ms=604800000" in m.group(3)


def test_metrics_give_the_alert_rules_names(hosts, addresses):
    names = ("kafka_server_replicamanager_underreplicatedpartitions", "kafka_controller_kafkacontroller_activecontrollercount",
             "kafka_server_brokertopicmetrics_totalproducerequests_total")

    def missing(n):
        # the agent answers as soon as the JVM runs; a first scrape on a busy machine can take
        # longer than one attempt allows, so the names are waited for (and the last miss shown)
        text = hosts[n].run(f"curl -s --max-time 10 http://{addresses[n]}:7071/metrics").stdout
        return [name for name in names if not re.search(rf"^{name}(\{{.*\}})? ", text, re.M)]

    for n in hosts:
        wait_for(lambda n=n: not missing(n), 60, interval=3, what=f"the alert rules' metric names on {n}",
                 detail=lambda n=n: missing(n))


def test_the_lag_exporter_reports_a_groups_lag(hosts, addresses, app):
    # a new group reads the one-partition topic to its end (the console consumer commits its
    # position on close), then three more records arrive: that group lags three behind
    group = f"app-lag-{uuid.uuid4().hex[:6]}"
    out = app["kafka-2"].produce("alerts", [f"{group}-{i}" for i in range(5)])
    assert out.rc == 0, out.stderr
    # nothing else writes to alerts in this phase: the five records are the topic's end
    got = app["kafka-2"].consume("alerts", 5, group, timeout_ms=60000)
    assert f"{group}-4" in got.stdout, got.stderr[-2000:]
    out = app["kafka-2"].produce("alerts", [f"{group}-more-{i}" for i in range(3)])
    assert out.rc == 0, out.stderr
    exporter = hosts["kafka-1"]  # the first broker runs the cluster's one lag exporter

    def lag():
        text = exporter.run(f"curl -s --max-time 10 http://{addresses['kafka-1']}:9308/metrics").stdout
        m = re.search(rf'^kafka_consumergroup_lag_sum\{{consumergroup="{group}",topic="alerts"\}} (\S+)$', text, re.M)
        return m and float(m.group(1))

    wait_for(lambda: lag() is not None, 60, interval=3, what=f"the lag of {group} on the exporter")
    end = exporter.run(f"curl -s --max-time 10 http://{addresses['kafka-1']}:9308/metrics").stdout
    newest = float(re.search(r'^kafka_topic_partition_current_offset\{partition="0",topic="alerts"\} (\S+)$', end, re.M).group(1))
    committed = float(re.search(rf'^kafka_consumergroup_current_offset\{{consumergroup="{group}",partition="0",topic="alerts"\}} (\S+)$',
                                end, re.M).group(1))
    # nothing else writes to alerts in this phase
    assert lag() == newest - committed == 3
    assert 'kafka_lag_exporter_up 1' in end


def test_every_node_is_a_voter_of_the_quorum(admin):
    out = admin.host.run(f"{TOOL}/kafka-metadata-quorum.sh --bootstrap-server {admin.bootstrap} "
                         f"--command-config {admin.config} describe --status")
    assert out.rc == 0, out.stderr
    voters = re.search(r"CurrentVoters:\s*(.*)", out.stdout).group(1)
    assert all(f'"id": {i}' in voters or f'"id":{i}' in voters for i in (1, 2, 3)), voters


# --- phase 2: storage safety, bad input -----------------------------------------------------
# (a rerun after a broker was killed and came back, phase 1, changes nothing: the rerun of phase 3)

@pytest.mark.phase(2)
def test_storage_with_data_but_no_marker_is_never_formatted(hosts):
    h = hosts["kafka-2"]
    data = "/var/lib/kafka/data"
    meta = f"{data}/meta.properties"
    listing = f"find {data} -path '*/meta.properties' -prune -o -type f -printf '%P\\n' | sort"
    held = h.run(listing).stdout
    h.run(f"mv {meta} /root/meta.properties.bak")
    try:
        # the role's run tasks only (input, cluster id, storage): install and configuration have
        # nothing to do with the refusal and cost about 20 s here
        res = playbook(SCENARIO / "converge.yml", "--tags", "kafka_run")
        out = res.stdout + res.stderr
        assert res.returncode != 0
        assert "has no meta.properties but is not empty" in " ".join(out.split())
        assert not h.file(meta).exists
        # no file of the directory was removed (the running broker may add segments)
        assert set(held.split()) <= set(h.run(listing).stdout.split())
    finally:
        h.run(f"mv /root/meta.properties.bak {meta}")


@pytest.mark.phase(2)
@pytest.mark.parametrize("extra, expected", [
    (['{"kafka_client_listener": "NOPE"}'], "kafka_client_listener is 'NOPE'"),
    # two bad entries in one run: every entry's error is named
    (['{"kafka_topics": [{"name": "alerts", "partitions": 1, "replication_factor": 4}, '
      '{"name": "vehicle-detections", "partitions": 3, "replication_factor": 2, "configs": {"retention.ms": -5}}]}'],
     ["kafka_topics[0] ('alerts') replication_factor must be at most the number of brokers (3), got 4",
      "kafka_topics[1] ('vehicle-detections') configs['retention.ms'] must be -1 (unlimited) or more, got -5"]),
    # both refused by the plan against the running cluster, in one run: every error is named
    (['{"kafka_topics": [{"name": "camera-events", "partitions": 1, "replication_factor": 2}, '
      '{"name": "alerts", "state": "absent"}]}'],
     ["partitions 1 is below the topic's current 3",
      "kafka_topics[1] ('alerts'): the topic is declared absent, but it exists"]),
], ids=["unknown-listener", "rf-above-brokers-and-negative-retention", "partition-decrease-and-absent"])
def test_bad_input_stops_before_any_change(hosts, extra, expected):
    before = {n: _started(h) for n, h in hosts.items()}
    res = playbook(SCENARIO / "converge.yml", "--tags", "kafka", "-e", *extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for text in [expected] if isinstance(expected, str) else expected:
        assert text in " ".join(out.split()), out[-3000:]
    for n in NODES:
        assert re.search(rf"{n}\s*:.*changed=0", out), out[-2000:]
    assert {n: _started(h) for n, h in hosts.items()} == before
    assert secret("kafka_admin_password") not in out


# --- phase 1: losing a broker; phase 4: the rolling restart playbook's gate ---------------

def _producer(client, topic, count, tag):
    """Start a background producer of `count` numbered records (acks=all, idempotent)."""
    client.host.run(
        f"nohup sh -c 'seq 1 {count} | sed s/^/{tag}-/ | {TOOL}/kafka-console-producer.sh "
        f"--bootstrap-server {client.bootstrap} --command-config {client.config} --topic {topic} "
        f"--command-property delivery.timeout.ms=120000 --command-property retries=2147483647 "
        f"> /root/{tag}.out 2> /root/{tag}.err; echo $? > /root/{tag}.rc' >/dev/null 2>&1 &")


def _consumed(client, topic, tag):
    """The records of `tag` read back by a new consumer group: it reads every record the topic holds
    (the sum of its end offsets) and stops there, or after a minute without a record."""
    out = client.consume(topic, client.records(topic), f"app-check-{tag}-{uuid.uuid4().hex[:6]}", timeout_ms=60000)
    return {line for line in out.stdout.splitlines() if line.startswith(tag + "-")}


@pytest.mark.phase(1)
def test_a_killed_broker_loses_no_acknowledged_message(hosts, app):
    tag = "kill" + uuid.uuid4().hex[:6]
    _producer(app["kafka-1"], "camera-events", 20000, tag)
    time.sleep(1)  # let the producer start before the kill
    hosts["kafka-3"].run("systemctl kill -s KILL kafka")
    wait_for(lambda: hosts["kafka-1"].file(f"/root/{tag}.rc").exists, 300, what="the producer to finish")
    assert hosts["kafka-1"].file(f"/root/{tag}.rc").content_string.strip() == "0", hosts["kafka-1"].file(f"/root/{tag}.err").content_string[-2000:]
    wait_for(lambda: hosts["kafka-3"].service("kafka").is_running, 120, what="systemd to restart kafka-3")
    got = _consumed(app["kafka-2"], "camera-events", tag)
    assert len(got) == 20000


@pytest.mark.phase(4)
def test_rolling_restart_stops_when_a_gate_fails(hosts):
    hosts["kafka-3"].run("systemctl stop kafka")
    try:
        before = {n: _started(h) for n, h in hosts.items() if n != "kafka-3"}
        res = playbook(ROLLING, "-e", "kafka_rolling_restart_timeout=10")
        assert res.returncode != 0
        assert {n: _started(hosts[n]) for n in before} == before
    finally:
        hosts["kafka-3"].run("systemctl start kafka")


# --- phase 3: a broker added to the running cluster; a config change's gated rolling restart ---

def _restart_order(out):
    """The hosts in the order the gated restart restarted them, each with whether its gate after the
    restart passed before the next restart began."""
    steps = re.findall(r"TASK \[groundwork\.platform\.kafka : (Restart Kafka on|Check the cluster after restarting) (kafka-\d)\]", out)
    order = [h for what, h in steps if what == "Restart Kafka on"]
    gated = all(steps[k + 1] == ("Check the cluster after restarting", h)
                for k, (what, h) in enumerate(steps) if what == "Restart Kafka on")
    return order, gated


def _no_loss(hosts, app, topic, tag):
    wait_for(lambda: hosts["kafka-1"].file(f"/root/{tag}.rc").exists, 300, what="the producer to finish")
    assert hosts["kafka-1"].file(f"/root/{tag}.rc").content_string.strip() == "0", hosts["kafka-1"].file(f"/root/{tag}.err").content_string[-2000:]
    assert len(_consumed(app["kafka-2"], topic, tag)) == 20000


@pytest.mark.phase(3)
def test_a_broker_joins_without_restarting_the_others_with_a_producer_running(hosts, app, admin):
    """kafka-4 joins as a broker (grow.yml) while a producer (acks=all, idempotent) writes: the
    controllers get an ACL for its certificate, no other node's configuration changes and none
    restarts, nothing acknowledged is lost. A rerun changes nothing on the four: the scenario's
    idempotence check (molecule.yml runs no idempotence step), also the rerun after the broker
    killed in phase 1 came back."""
    new = host_of("kafka-4")
    before = {n: _started(h) for n, h in hosts.items()}
    tag = "grow" + uuid.uuid4().hex[:6]
    _producer(app["kafka-1"], "vehicle-detections", 20000, tag)
    res = playbook(SCENARIO / "grow.yml")
    assert res.returncode == 0, failures(res)
    assert _restart_order(res.stdout)[0] == [], res.stdout[-3000:]
    assert {n: _started(h) for n, h in hosts.items()} == before
    assert new.service("kafka").is_running
    # formatted as a broker of the running cluster: its cluster id, no controller role; the
    # controllers know its certificate through an ACL, not through their super.users
    cluster = hosts["kafka-1"].file("/var/lib/kafka/data/meta.properties").content_string
    assert re.search(r"^cluster\.id=(\S+)", new.file("/var/lib/kafka/data/meta.properties").content_string, re.M).group(1) \
        == re.search(r"^cluster\.id=(\S+)", cluster, re.M).group(1)
    assert "\nprocess.roles=broker\n" in new.file("/etc/kafka/server.properties").content_string
    assert "kafka-4" not in hosts["kafka-1"].file("/etc/kafka/server.properties").content_string
    acls = admin.host.run(f"{TOOL}/kafka-run-class.sh org.apache.kafka.tools.AclCommand "
                          f"--bootstrap-server {admin.bootstrap} --command-config {admin.config} --list --cluster")
    assert "principal=User:CN=kafka-4, host=*, operation=CLUSTER_ACTION, permissionType=ALLOW" in acls.stdout, acls.stdout[-2000:]
    _no_loss(hosts, app, "vehicle-detections", tag)
    # the cluster knows the new broker and its rack, and it serves clients: a record produced
    # through it is read back through it
    brokers = admin.host.run(f"{TOOL}/kafka-run-class.sh org.apache.kafka.tools.BrokerApiVersionsCommand "
                             f"--bootstrap-server {admin.bootstrap} --command-config {admin.config}")
    assert brokers.rc == 0, brokers.stderr[-2000:]
    assert re.search(r"\(id: 4 rack: rack-a", brokers.stdout), brokers.stdout[-2000:]
    client = Client(new, "app", secret("kafka_app_password"), f"{address(new)}:9092")
    marker = uuid.uuid4().hex
    assert client.produce("alerts", [f"grown-{marker}"]).rc == 0
    got = client.consume("alerts", client.records("alerts"), f"app-grown-{marker}", timeout_ms=60000)
    assert f"grown-{marker}" in got.stdout, got.stderr[-2000:]
    # a rerun changes nothing on any of the four
    res = playbook(SCENARIO / "grow.yml")
    assert res.returncode == 0, failures(res)
    for n in (*NODES, "kafka-4"):
        assert re.search(rf"{n}\s*:.*changed=0", res.stdout), res.stdout[-2000:]


@pytest.mark.phase(3)
def test_a_config_change_restarts_one_node_at_a_time_gated_with_a_producer_running(hosts, app):
    """A changed setting (the retention hours) on the three nodes: the role's handler marks them and
    restarts them one at a time, each followed by its gate, while a producer (acks=all, idempotent)
    writes: nothing acknowledged is lost."""
    before = {n: _started(h) for n, h in hosts.items()}
    tag = "roll" + uuid.uuid4().hex[:6]
    _producer(app["kafka-1"], "camera-events", 20000, tag)
    res = playbook(SCENARIO / "converge.yml", "--tags", "kafka", "-e", "kafka_log_retention_hours=169")
    assert res.returncode == 0, failures(res)
    order, gated = _restart_order(res.stdout)
    assert sorted(order) == list(NODES) and gated, res.stdout[-3000:]
    assert all(_started(h) != before[n] for n, h in hosts.items())
    assert all("\nlog.retention.hours=169\n" in h.file("/etc/kafka/server.properties").content_string for h in hosts.values())
    _no_loss(hosts, app, "camera-events", tag)
