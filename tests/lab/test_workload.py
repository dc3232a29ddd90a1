"""On the lab (`make lab`), the sample workload (roles/workload): run by hand, not in CI (the lab is not).

    make bench-deps   # the Kafka and MinIO clients
    .venv/bin/python -m pytest -p no:cacheprovider -v tests/lab/test_workload.py

Events are posted through HAProxy's :8090 on lab-lb1 and each tier is read back with its own
client, not with the service's: the Kafka record at the partition and offset the service
reported (as kafka-admin), the detection row in the hypertable (through HAProxy's primary
endpoint), the camera's session hash in Redis (through Sentinel), the clip in MinIO (a multipart
object: its ETag ends in -<parts>; its bytes compared). The services' own /metrics count the
events, Prometheus scrapes both instances, and the credentials the service read from OpenBao are
in no file on its hosts. Run it alone: it counts the events it sent in the service's metrics.
"""
import hashlib
import importlib.util
import json
import pathlib
import re
import shlex
import subprocess
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRETS = ROOT / "build" / "lab-secrets"
CA = str(SECRETS / "ca" / "ca.crt")
NODES = ("lab-node1", "lab-node2", "lab-node3")
WORKLOAD = ("lab-node2", "lab-node3")  # inventories/lab/hosts.yml, group workload
MIB = 1024 * 1024
_spec = importlib.util.spec_from_file_location("workload_logic", ROOT / "roles/workload/files/workload_logic.py")
logic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(logic)


def secret(name):
    return (SECRETS / name).read_text().strip()


def address(node):
    out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", node],
                         capture_output=True, text=True, check=True).stdout
    return next(iter(json.loads(out).values()))["IPAddress"]


def dexec(node, script, timeout=60):
    return subprocess.run(["docker", "exec", node, "sh", "-c", script], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module", autouse=True)
def lab_is_up():
    up = subprocess.run(["docker", "inspect", "lab-lb1"], capture_output=True, check=False).returncode == 0
    assert up, "these tests check the lab: bring it up first (make lab)"


@pytest.fixture(scope="module")
def addrs():
    return {n: address(n) for n in NODES + ("lab-lb1", "lab-mon1")}


@pytest.fixture(scope="module")
def passwords(addrs):
    import hvac
    client = hvac.Client(url=f"https://{addrs['lab-node1']}:8200", verify=CA)
    client.auth.approle.login(role_id="groundwork-lab-platform", secret_id=secret("vault_platform_secret_id"))

    def kv(path):
        return client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"]["data"]
    return {"postgresql": kv("platform/postgresql")["metrics_writer_password"], "redis": kv("platform/redis")["app_password"],
            **kv("platform/workload")}


def metrics(addrs, node):
    import requests
    text = requests.get(f"http://{addrs[node]}:8090/metrics", timeout=5).text
    samples = {}
    for name, labels, value in re.findall(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$', text, re.M):
        samples[(name, labels)] = float(value)
    return samples


def total(addrs, name, labels=""):
    return sum(metrics(addrs, node).get((name, labels), 0) for node in WORKLOAD)


@pytest.fixture(scope="module")
def posted(addrs):
    """Three events through HAProxy (one camera twice, one with a one-part clip) and the service's answers."""
    import requests
    before = {"stored": total(addrs, "workload_events_stored_total"),
              "errors": {t: total(addrs, "workload_tier_errors_total", f'tier="{t}"') for t in logic.TIERS},
              "ops": {t: total(addrs, "workload_tier_operations_total", f'tier="{t}"') for t in logic.TIERS},
              "bad": total(addrs, "workload_http_requests_total", 'route="/events",code="400"')}
    camera = 1_000_000 + uuid.uuid4().int % 1_000_000_000
    now = time.time()
    events = [{"event_id": f"labtest-{uuid.uuid4().hex[:12]}", "camera_id": camera, "time": round(now - 2 + i, 6),
               "vehicle_class": "bus", "confidence": 0.75} for i in range(2)]
    events.append({"event_id": f"labtest-{uuid.uuid4().hex[:12]}", "camera_id": camera + 1, "time": round(now, 6),
                   "vehicle_class": "van", "confidence": 0.5, "clip_bytes": 300_000})
    answers = []
    for event in events:
        response = requests.post(f"http://{addrs['lab-lb1']}:8090/events", json=event, timeout=(2, 40))
        assert response.status_code == 201, response.text
        answers.append(response.json())
    bad = requests.post(f"http://{addrs['lab-lb1']}:8090/events", json={"event_id": "x", "camera_id": -1}, timeout=(2, 10))
    return {"events": events, "answers": answers, "before": before, "bad": bad, "camera": camera}


def test_every_tier_answered_for_each_event(posted):
    for event, answer in zip(posted["events"], posted["answers"]):
        assert answer["event_id"] == event["event_id"]
        assert set(answer) == {"event_id", "kafka", "postgresql", "redis", "minio"}, answer
    assert [a["minio"]["parts"] for a in posted["answers"]] == [2, 2, 1]  # the default 6 MiB clip: 5 MiB + 1 MiB


def test_a_bad_event_is_refused_naming_the_field(posted):  # and reaches no tier: test_the_metrics_count_the_events
    assert posted["bad"].status_code == 400
    assert any("camera_id" in problem for problem in posted["bad"].json()["error"])


def test_the_kafka_records_are_there(posted, addrs):
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": ",".join(f"{addrs[n]}:9092" for n in NODES), "security.protocol": "SASL_SSL",
                         "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "kafka-admin",
                         "sasl.password": secret("kafka_admin_password"), "ssl.ca.location": CA,
                         "group.id": f"labtest-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False})
    try:
        for event, answer in zip(posted["events"], posted["answers"]):
            where = answer["kafka"]
            consumer.assign([TopicPartition("camera-events", where["partition"], where["offset"])])
            msg = None
            for _attempt in range(20):
                msg = consumer.poll(1.0)
                if msg is not None and not msg.error():
                    break
            assert msg is not None and not msg.error(), msg and msg.error()
            assert msg.key() == str(event["camera_id"]).encode()
            record = json.loads(msg.value())
            assert record["event_id"] == event["event_id"] and record["vehicle_class"] == event["vehicle_class"], record
    finally:
        consumer.close()


def test_the_detections_are_in_the_hypertable(posted, addrs, passwords):
    import psycopg
    with psycopg.connect(host=addrs["lab-lb1"], port=5000, dbname="metrics", user="metrics_writer", password=passwords["postgresql"],
                         sslmode="verify-ca", sslrootcert=CA, connect_timeout=5) as conn:
        rows = conn.execute("SELECT extract(epoch FROM time)::float8, camera_id, vehicle_class, confidence FROM vehicle_detections "
                            "WHERE camera_id IN (%s, %s) AND time > now() - interval '1 hour' ORDER BY time",
                            (posted["camera"], posted["camera"] + 1)).fetchall()
        hyper = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'vehicle_detections'").fetchone()
    assert hyper == (1,)
    expected = sorted((e["time"], e["camera_id"], e["vehicle_class"], e["confidence"]) for e in posted["events"])
    assert [(pytest.approx(t, abs=1e-5), c, v, pytest.approx(p)) for t, c, v, p in expected] == rows


def test_the_sessions_are_in_redis(posted, addrs, passwords):
    from redis.sentinel import Sentinel
    tls = {"ssl": True, "ssl_ca_certs": CA, "socket_timeout": 2, "socket_connect_timeout": 2}
    sentinel = Sentinel([(addrs[n], 26379) for n in NODES], sentinel_kwargs=dict(tls, password=secret("redis_sentinel_password")), **tls)
    client = sentinel.master_for("redis", username="app", password=passwords["redis"])
    first = client.hgetall(f"workload:session:{posted['camera']}")
    assert first[b"events"] == b"2" and first[b"last_event_id"] == posted["events"][1]["event_id"].encode(), first
    second = client.hgetall(f"workload:session:{posted['camera'] + 1}")
    assert second[b"events"] == b"1" and second[b"vehicle_class"] == b"van", second
    assert 0 < client.ttl(f"workload:session:{posted['camera']}") <= 3600


def test_the_clips_are_multipart_objects_in_minio(posted, addrs):
    import urllib3
    from minio import Minio
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=CA, timeout=urllib3.Timeout(connect=2, read=10))
    client = Minio(f"{addrs['lab-node1']}:9000", access_key="groundwork-admin", secret_key=secret("minio_root_password"),
                   secure=True, region="us-east-1", http_client=http)
    for event, answer in zip(posted["events"], posted["answers"]):
        key = answer["minio"]["key"]
        assert answer["minio"]["bucket"] == "its-video" and key == logic.clip_key(dict(event, time=float(event["time"])))
        size = event.get("clip_bytes", 6 * MIB)
        stat = client.stat_object("its-video", key)
        assert stat.size == size and stat.etag.endswith(f"-{answer['minio']['parts']}"), (stat.size, stat.etag)
        response = client.get_object("its-video", key)
        try:
            body = response.read()
        finally:
            response.close()
            response.release_conn()
        assert hashlib.sha256(body).digest() == hashlib.sha256(logic.clip_chunk(event["event_id"], 0, size)).digest()


def test_the_metrics_count_the_events(posted, addrs):
    before = posted["before"]
    assert total(addrs, "workload_events_stored_total") - before["stored"] == 3
    for tier in logic.TIERS:
        assert total(addrs, "workload_tier_operations_total", f'tier="{tier}"') - before["ops"][tier] == 3, tier
        assert total(addrs, "workload_tier_errors_total", f'tier="{tier}"') == before["errors"][tier], tier
    assert total(addrs, "workload_http_requests_total", 'route="/events",code="400"') - before["bad"] == 1
    assert total(addrs, "workload_tier_duration_seconds_count", 'tier="minio"') >= 3


def test_prometheus_scrapes_both_instances_and_no_workload_alert_fires(addrs):
    url = f"http://{addrs['lab-mon1']}:9090/api/v1/query"
    auth = f"prometheus:{secret('prometheus_web_password')}"
    deadline = time.time() + 60
    while True:
        out = subprocess.run(["curl", "-fsS", "--max-time", "10", "-u", auth, "--data-urlencode", 'query=up{job="workload"}', url],
                             capture_output=True, text=True, check=False)
        result = json.loads(out.stdout)["data"]["result"] if out.returncode == 0 else []
        up = {r["metric"]["instance"].split(":")[0]: r["value"][1] for r in result}
        if sorted(up.values()) == ["1", "1"] or time.time() > deadline:
            break
        time.sleep(5)
    assert sorted(up) == list(WORKLOAD) and set(up.values()) == {"1"}, up  # instance: the inventory name
    alerts = subprocess.run(["curl", "-fsS", "--max-time", "10", "-u", auth, f"http://{addrs['lab-mon1']}:9090/api/v1/alerts"],
                            capture_output=True, text=True, check=True).stdout
    firing = [a["labels"] for a in json.loads(alerts)["data"]["alerts"]
              if a["labels"].get("alertname") == "WorkloadTierErrors" or a["labels"].get("service") == "workload"]
    assert firing == [], firing


def test_the_credentials_are_in_no_file_on_the_workload_hosts(passwords):
    for node in WORKLOAD:
        for value in (passwords["postgresql"], passwords["redis"], passwords["kafka_password"], passwords["minio_secret_key"]):
            found = dexec(node, f"grep -rlF -e {shlex.quote(value)} /etc /usr/local/lib/groundwork-workload /var/lib/groundwork-workload")
            assert found.stdout.strip() == "", (node, found.stdout)
        login = dexec(node, "stat -c '%U %G %a' /etc/groundwork-workload/credentials.json").stdout.split()
        assert login == ["root", "groundwork-workload", "640"], (node, login)
        unit = dexec(node, "systemctl show -p User -p ActiveState groundwork-workload").stdout
        assert "User=groundwork-workload" in unit and "ActiveState=active" in unit, (node, unit)
