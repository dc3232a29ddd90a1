"""The sample workload's pure logic (roles/workload/files/workload_logic.py): events and their
checks, what each tier stores, the clip's multipart layout, the configuration's checks and the
metrics' text; and the service's --check-config on a file (no tier needed)."""
import copy
import datetime
import hashlib
import importlib.util
import json
import pathlib
import re
import subprocess
import sys

import pytest

FILES = pathlib.Path(__file__).resolve().parents[3] / "roles/workload/files"
_spec = importlib.util.spec_from_file_location("workload_logic", FILES / "workload_logic.py")
logic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(logic)

NOW = 1_764_900_000.0  # 2025-12-05T02:00:00Z
MIB = 1024 * 1024


def good(**changes):
    event = {"event_id": "ev-1", "camera_id": 7, "time": NOW - 10, "vehicle_class": "truck", "confidence": 0.9, "clip_bytes": 10}
    event.update(changes)
    return event


def test_synthetic_events_are_valid_and_repeatable():
    events = [logic.synthetic_event(seq, NOW, cameras=4, clip_bytes=100) for seq in range(1, 50)]
    assert events == [logic.synthetic_event(seq, NOW, cameras=4, clip_bytes=100) for seq in range(1, 50)]
    for event in events:
        assert logic.validate_event(event, NOW, 1000, 100) == dict(event, time=NOW)
    assert {e["camera_id"] for e in events} == {1, 2, 3, 4}
    assert len({e["vehicle_class"] for e in events}) > 2
    assert len({e["event_id"] for e in events}) == len(events)
    with pytest.raises(ValueError):
        logic.synthetic_event(-1, NOW)


def test_a_valid_event_is_normalised_and_the_clip_size_defaults():
    body = good(time=int(NOW), confidence=1)
    del body["clip_bytes"]
    event = logic.validate_event(body, NOW, 1000, 123)
    assert event["clip_bytes"] == 123 and isinstance(event["time"], float) and isinstance(event["confidence"], float)
    assert logic.validate_event({k: v for k, v in good().items() if k != "time"}, NOW, 1000, 5)["time"] == NOW


@pytest.mark.parametrize("changes, problem", [
    ({"event_id": ""}, "event_id"),
    ({"event_id": "a b"}, "event_id"),
    ({"event_id": "x" * 65}, "event_id"),
    ({"camera_id": 0}, "camera_id"),
    ({"camera_id": True}, "camera_id"),
    ({"camera_id": "7"}, "camera_id"),
    ({"camera_id": 2**31}, "camera_id"),
    ({"time": NOW - 8 * 86400}, "time"),
    ({"time": NOW + 3600}, "time"),
    ({"time": float("nan")}, "time"),
    ({"vehicle_class": "tank"}, "vehicle_class"),
    ({"confidence": 1.5}, "confidence"),
    ({"confidence": None}, "confidence"),
    ({"clip_bytes": 0}, "clip_bytes"),
    ({"clip_bytes": 1001}, "clip_bytes"),
    ({"colour": "red"}, "unknown fields: colour"),
])
def test_a_bad_event_is_refused_naming_the_field(changes, problem):
    with pytest.raises(logic.InvalidEvent) as err:
        logic.validate_event(good(**changes), NOW, 1000, 10)
    assert len(err.value.args[0]) == 1 and err.value.args[0][0].startswith(problem), err.value.args


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(logic.InvalidEvent):
        logic.validate_event([good()], NOW, 1000, 10)


def test_each_tier_gets_the_event():
    event = logic.validate_event(good(), NOW, 1000, 10)
    key, value = logic.kafka_record(event)
    assert key == b"7" and json.loads(value) == event
    sql = logic.detection_insert("vehicle_detections")
    assert sql.startswith("INSERT INTO vehicle_detections (time, camera_id, vehicle_class, confidence)") and "WHERE NOT EXISTS" in sql
    params = logic.detection_params(event)
    assert sql.count("%s") == len(params) == 6
    assert params[0] == datetime.datetime(2025, 12, 5, 1, 59, 50, tzinfo=datetime.timezone.utc) and params[1:4] == (7, "truck", 0.9)
    assert logic.session_key("workload:", 7) == "workload:session:7"
    assert logic.session_fields(event) == {"last_event_id": "ev-1", "last_time": repr(NOW - 10), "vehicle_class": "truck"}
    assert logic.clip_key(event) == "clips/7/2025/12/05/ev-1.bin"


@pytest.mark.parametrize("table", ["x; DROP TABLE y", "Vehicle", "a.b.c", ""])
def test_a_table_name_that_is_not_plain_is_refused(table):
    with pytest.raises(ValueError):
        logic.detection_insert(table)


def test_the_clip_is_cut_into_parts_of_the_part_size_but_the_last():
    assert logic.clip_parts(6 * MIB, 5 * MIB) == [(1, 0, 5 * MIB), (2, 5 * MIB, MIB)]
    assert logic.clip_parts(5 * MIB, 5 * MIB) == [(1, 0, 5 * MIB)]
    assert logic.clip_parts(1, 5 * MIB) == [(1, 0, 1)]
    parts = logic.clip_parts(23 * MIB + 3, 5 * MIB)
    assert [p[0] for p in parts] == [1, 2, 3, 4, 5] and sum(p[2] for p in parts) == 23 * MIB + 3
    assert all(parts[i][1] + parts[i][2] == parts[i + 1][1] for i in range(len(parts) - 1))
    with pytest.raises(ValueError):
        logic.clip_parts(6 * MIB, 5 * MIB - 1)
    with pytest.raises(ValueError):
        logic.clip_parts(0, 5 * MIB)
    with pytest.raises(ValueError):
        logic.clip_parts(10001 * 5 * MIB, 5 * MIB)


def test_the_clips_parts_join_into_the_whole_clip():
    whole = logic.clip_chunk("ev-1", 0, 1000)
    assert len(whole) == 1000 and whole[:32] == hashlib.sha256(b"ev-1").digest()
    assert b"".join(logic.clip_chunk("ev-1", o, n) for _number, o, n in [(1, 0, 333), (2, 333, 1), (3, 334, 666)]) == whole
    assert logic.clip_chunk("ev-2", 0, 64) != whole[:64]


def test_secret_references():
    assert logic.parse_secret_ref("platform/redis#app_password") == ("platform/redis", "app_password")
    for bad in ("platform/redis", "a#b#c", "#field", "path#", None, "pa th#f"):
        with pytest.raises(ValueError):
            logic.parse_secret_ref(bad)


CONFIG = {
    "listen_address": "10.0.0.5", "port": 8090, "tls_ca_file": "/etc/groundwork-workload/ca.crt",
    "vault": {"urls": ["https://n1:8200"], "mount": "secret", "credentials_file": "/etc/groundwork-workload/credentials.json",
              "secrets": {"postgresql_password": "platform/postgresql#p", "redis_password": "platform/redis#p",
                          "kafka_password": "platform/workload#k", "minio_secret_key": "platform/workload#m"}},
    "postgresql": {"hosts": ["lb1"], "port": 5000, "dbname": "metrics", "user": "w", "table": "vehicle_detections"},
    "redis": {"sentinels": [["n1", 26379]], "master": "redis", "user": "app"},
    "kafka": {"bootstrap_servers": "n1:9092", "topic": "camera-events", "user": "workload"},
    "minio": {"endpoints": ["https://n1:9000"], "bucket": "its-video", "access_key": "workload"},
    "clip": {"default_bytes": 6 * MIB, "max_bytes": 64 * MIB, "part_bytes": 5 * MIB},
}


def broken(path, value):
    cfg = copy.deepcopy(CONFIG)
    *parents, last = path.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return cfg


def test_a_good_configuration_has_no_problems():
    assert logic.check_config(CONFIG) == []


@pytest.mark.parametrize("path, value, problem", [
    ("port", "8090", "port must be a int"),
    ("port", 70000, "port must be 1-65535"),
    ("kafka", None, "kafka must be a dict"),
    ("vault.urls", ["http://n1:8200"], "vault.urls"),
    ("vault.credentials_file", None, "vault.credentials_file"),
    ("vault.secrets.kafka_password", None, "vault.secrets.kafka_password"),
    ("vault.secrets.redis_password", "platform/redis", "vault.secrets.redis_password"),
    ("postgresql.hosts", [], "postgresql needs"),
    ("postgresql.table", "t; drop", "postgresql.table"),
    ("redis.sentinels", [], "redis needs"),
    ("kafka.topic", "", "kafka needs"),
    ("minio.bucket", None, "minio needs"),
    ("clip.part_bytes", MIB, "clip:"),
    ("clip.default_bytes", 65 * MIB, "clip.default_bytes"),
])
def test_a_bad_configuration_names_its_problem(path, value, problem):
    problems = logic.check_config(broken(path, value))
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_service_checks_a_configuration_file(tmp_path):
    """--check-config: 0 on a good file, 2 naming the problem on a bad one (the role's validate: step)."""
    service = [sys.executable, str(FILES / "workload_service.py"), "--check-config", "--config"]
    good_file, bad_file = tmp_path / "good.json", tmp_path / "bad.json"
    good_file.write_text(json.dumps(CONFIG))
    bad_file.write_text(json.dumps(broken("kafka.topic", "")))
    assert subprocess.run(service + [str(good_file)], capture_output=True, check=False).returncode == 0
    out = subprocess.run(service + [str(bad_file)], capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "kafka needs bootstrap_servers, topic and user" in out.stderr
    (tmp_path / "torn.json").write_text("{")
    assert subprocess.run(service + [str(tmp_path / "torn.json")], capture_output=True, check=False).returncode == 2


def parse(text):
    """Prometheus text -> {(name, frozenset(labels)): value}, checking every line's syntax."""
    samples = {}
    line_re = re.compile(r'^([a-z_]+)(?:\{((?:[a-z_]+="[^"]*",?)*)\})? (\S+)$')
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        m = line_re.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def lab(**labels):
    return frozenset(labels.items())


def test_metrics_count_requests_errors_and_latency_per_tier():
    metrics = logic.Metrics(buckets=(0.1, 1.0))
    metrics.request("/events", 201, 0.05)
    metrics.request("/events", 201, 0.5)
    metrics.request("/events", 503, 2.0)
    metrics.tier("kafka", True, 0.05)
    metrics.tier("kafka", False, 5.0)
    metrics.tier("minio", True, 0.7)
    metrics.event_stored()
    s = parse(metrics.render())
    assert s[("workload_http_requests_total", lab(route="/events", code="201"))] == 2
    assert s[("workload_http_requests_total", lab(route="/events", code="503"))] == 1
    assert s[("workload_http_request_duration_seconds_bucket", lab(route="/events", le="0.1"))] == 1
    assert s[("workload_http_request_duration_seconds_bucket", lab(route="/events", le="1.0"))] == 2
    assert s[("workload_http_request_duration_seconds_bucket", lab(route="/events", le="+Inf"))] == 3
    assert s[("workload_http_request_duration_seconds_count", lab(route="/events"))] == 3
    assert s[("workload_http_request_duration_seconds_sum", lab(route="/events"))] == pytest.approx(2.55)
    assert s[("workload_tier_operations_total", lab(tier="kafka"))] == 2
    assert s[("workload_tier_errors_total", lab(tier="kafka"))] == 1
    assert s[("workload_tier_errors_total", lab(tier="postgresql"))] == 0
    assert s[("workload_tier_duration_seconds_bucket", lab(tier="kafka", le="0.1"))] == 1
    assert s[("workload_tier_duration_seconds_bucket", lab(tier="kafka", le="+Inf"))] == 2
    assert s[("workload_tier_duration_seconds_bucket", lab(tier="minio", le="1.0"))] == 1
    assert s[("workload_tier_duration_seconds_count", lab(tier="redis"))] == 0
    assert s[("workload_events_stored_total", lab())] == 1


def test_metrics_before_any_request_list_every_tier_at_zero():
    s = parse(logic.Metrics().render())
    for tier in logic.TIERS:
        assert s[("workload_tier_operations_total", frozenset({("tier", tier)}))] == 0
        assert s[("workload_tier_errors_total", frozenset({("tier", tier)}))] == 0
