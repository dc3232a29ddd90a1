"""The sample workload's pure logic (groundwork.platform.workload): events, their checks, what each
tier stores, the clip's multipart layout, the configuration's checks and the metrics' text.

No network, no clock, no randomness: the service (workload_service.py) passes the time and the
sequence number in; tests/unit/roles/test_workload_logic.py calls these functions directly.
"""
import datetime
import hashlib
import json
import math
import re
import threading

VEHICLE_CLASSES = ("car", "van", "truck", "bus", "motorcycle", "bicycle")
TIERS = ("kafka", "postgresql", "redis", "minio")
# S3 (MinIO too) refuses a part under 5 MiB unless it is the upload's last one
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10000
# seconds; from 5 ms to 10 s
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# the credentials the service reads from OpenBao (KV v2), each "path#field"
SECRETS = ("postgresql_password", "redis_password", "kafka_password", "minio_secret_key")
SECRET_REF = re.compile(r"^[A-Za-z0-9_./-]+#[A-Za-z0-9_.-]+$")


class InvalidEvent(ValueError):
    """An event the service refuses (HTTP 400); args[0] is the list of problems."""


def synthetic_event(seq, now, cameras=64, clip_bytes=0):
    """The seq-th synthetic camera event at `now` (epoch seconds): the same input gives the same event."""
    if seq < 0 or cameras < 1:
        raise ValueError("seq must be >= 0 and cameras >= 1")
    digest = hashlib.sha256(f"{seq}".encode()).digest()
    return {
        "event_id": f"syn-{int(now * 1000)}-{seq}",
        "camera_id": seq % cameras + 1,
        "time": now,
        "vehicle_class": VEHICLE_CLASSES[digest[0] % len(VEHICLE_CLASSES)],
        "confidence": round(0.5 + digest[1] / 510, 3),
        "clip_bytes": clip_bytes,
    }


def validate_event(body, now, max_clip_bytes, default_clip_bytes, max_age_seconds=7 * 86400, max_ahead_seconds=300):
    """The event in `body` (a decoded JSON object) checked and normalised, or InvalidEvent."""
    if not isinstance(body, dict):
        raise InvalidEvent(["the body must be a JSON object"])
    problems = []
    unknown = sorted(set(body) - {"event_id", "camera_id", "time", "vehicle_class", "confidence", "clip_bytes"})
    if unknown:
        problems.append(f"unknown fields: {', '.join(unknown)}")
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        problems.append("event_id must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    camera_id = body.get("camera_id")
    if not _is_int(camera_id) or not 1 <= camera_id <= 2**31 - 1:
        problems.append("camera_id must be an integer from 1 to 2147483647")
    when = body.get("time", now)
    if not _is_number(when) or not now - max_age_seconds <= when <= now + max_ahead_seconds:
        problems.append(f"time must be epoch seconds within the last {max_age_seconds} s (and at most {max_ahead_seconds} s ahead)")
    vehicle_class = body.get("vehicle_class")
    if vehicle_class not in VEHICLE_CLASSES:
        problems.append(f"vehicle_class must be one of {', '.join(VEHICLE_CLASSES)}")
    confidence = body.get("confidence")
    if not _is_number(confidence) or not 0 <= confidence <= 1:
        problems.append("confidence must be a number from 0 to 1")
    clip = body.get("clip_bytes", default_clip_bytes)
    if not _is_int(clip) or not 1 <= clip <= max_clip_bytes:
        problems.append(f"clip_bytes must be an integer from 1 to {max_clip_bytes}")
    if problems:
        raise InvalidEvent(problems)
    return {"event_id": event_id, "camera_id": camera_id, "time": float(when), "vehicle_class": vehicle_class,
            "confidence": float(confidence), "clip_bytes": clip}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def event_datetime(event):
    return datetime.datetime.fromtimestamp(event["time"], tz=datetime.timezone.utc)


def kafka_record(event):
    """(key, value) of the event's Kafka record: keyed by camera, so one camera's events keep their order."""
    return str(event["camera_id"]).encode(), json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def detection_insert(table):
    """The INSERT of one detection, idempotent: a repeated event (a client's retry) adds no second row.
    Parameters: time, camera_id, vehicle_class, confidence, time, camera_id."""
    if not re.match(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$", table):
        raise ValueError(f"not a plain table name: {table!r}")
    return (f"INSERT INTO {table} (time, camera_id, vehicle_class, confidence) SELECT %s, %s, %s, %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE time = %s AND camera_id = %s)")


def detection_params(event):
    when = event_datetime(event)
    return (when, event["camera_id"], event["vehicle_class"], event["confidence"], when, event["camera_id"])


def session_key(prefix, camera_id):
    return f"{prefix}session:{camera_id}"


def session_fields(event):
    """The fields the camera's session hash holds after this event."""
    return {"last_event_id": event["event_id"], "last_time": repr(event["time"]), "vehicle_class": event["vehicle_class"]}


def clip_key(event):
    """Where the event's clip goes in the bucket: clips/<camera>/<yyyy>/<mm>/<dd>/<event id>.bin"""
    return f"clips/{event['camera_id']}/{event_datetime(event):%Y/%m/%d}/{event['event_id']}.bin"


def clip_parts(size, part_bytes):
    """The clip's multipart layout: [(part number, offset, length)], every part part_bytes long but the last."""
    if part_bytes < MIN_PART_BYTES:
        raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's smallest part but the last)")
    if size < 1:
        raise ValueError("size must be at least 1")
    count = -(-size // part_bytes)
    if count > MAX_PARTS:
        raise ValueError(f"a clip of {size} bytes needs {count} parts of {part_bytes}: more than {MAX_PARTS}")
    return [(n + 1, n * part_bytes, min(part_bytes, size - n * part_bytes)) for n in range(count)]


def clip_chunk(event_id, offset, length):
    """Bytes offset..offset+length of the event's synthetic clip (SHA-256 of the event id, repeated)."""
    block = hashlib.sha256(event_id.encode()).digest()
    start = offset % len(block)
    repeats = -(-(start + length) // len(block))
    return (block * repeats)[start:start + length]


def parse_secret_ref(ref):
    """'path#field' -> (path, field)."""
    if not isinstance(ref, str) or not SECRET_REF.match(ref):
        raise ValueError(f"a secret reference must look like 'path/in/kv#field', got {ref!r}")
    path, field = ref.split("#")
    return path, field


def check_config(cfg):
    """The problems of a configuration (the service's --check-config, the role's validate: step)."""
    problems = []
    need = {"listen_address": str, "port": int, "tls_ca_file": str, "vault": dict, "postgresql": dict, "redis": dict, "kafka": dict,
            "minio": dict, "clip": dict}
    for key, kind in need.items():
        if not isinstance(cfg.get(key), kind):
            problems.append(f"{key} must be a {kind.__name__}")
    if problems:
        return problems
    if not 0 < cfg["port"] < 65536:
        problems.append("port must be 1-65535")
    vault = cfg["vault"]
    if not vault.get("urls") or not all(str(u).startswith("https://") for u in vault.get("urls", [])):
        problems.append("vault.urls must list https:// URLs")
    for key in ("mount", "credentials_file"):
        if not vault.get(key):
            problems.append(f"vault.{key} must be set")
    for name in SECRETS:
        try:
            parse_secret_ref(vault.get("secrets", {}).get(name))
        except ValueError as exc:
            problems.append(f"vault.secrets.{name}: {exc}")
    if not cfg["postgresql"].get("hosts") or not cfg["postgresql"].get("user") or not cfg["postgresql"].get("dbname"):
        problems.append("postgresql needs hosts, user and dbname")
    try:
        detection_insert(cfg["postgresql"].get("table", ""))
    except ValueError as exc:
        problems.append(f"postgresql.table: {exc}")
    if not cfg["redis"].get("sentinels") or not cfg["redis"].get("master") or not cfg["redis"].get("user"):
        problems.append("redis needs sentinels, master and user")
    if not cfg["kafka"].get("bootstrap_servers") or not cfg["kafka"].get("topic") or not cfg["kafka"].get("user"):
        problems.append("kafka needs bootstrap_servers, topic and user")
    if not cfg["minio"].get("endpoints") or not cfg["minio"].get("bucket") or not cfg["minio"].get("access_key"):
        problems.append("minio needs endpoints, bucket and access_key")
    clip = cfg["clip"]
    try:
        clip_parts(clip.get("default_bytes", 0), clip.get("part_bytes", 0))
        if not 1 <= clip.get("default_bytes", 0) <= clip.get("max_bytes", 0):
            problems.append("clip.default_bytes must be from 1 to clip.max_bytes")
    except (TypeError, ValueError) as exc:
        problems.append(f"clip: {exc}")
    return problems


class Metrics:
    """Counters and latency histograms, rendered in Prometheus' text format. Thread-safe."""

    def __init__(self, buckets=LATENCY_BUCKETS):
        self.buckets = tuple(buckets)
        self.lock = threading.Lock()
        self.requests = {}  # (route, code) -> count
        self.request_latency = {}  # route -> [bucket counts..., sum, count]
        self.tier_ops = {tier: 0 for tier in TIERS}
        self.tier_errors = {tier: 0 for tier in TIERS}
        self.tier_latency = {tier: self._empty() for tier in TIERS}
        self.events = 0

    def _empty(self):
        return [0] * len(self.buckets) + [0.0, 0]

    def _observe(self, histogram, seconds):
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                histogram[i] += 1
        histogram[-2] += seconds
        histogram[-1] += 1

    def request(self, route, code, seconds):
        with self.lock:
            self.requests[(route, str(code))] = self.requests.get((route, str(code)), 0) + 1
            self._observe(self.request_latency.setdefault(route, self._empty()), seconds)

    def tier(self, tier, ok, seconds):
        with self.lock:
            self.tier_ops[tier] += 1
            if not ok:
                self.tier_errors[tier] += 1
            self._observe(self.tier_latency[tier], seconds)

    def event_stored(self):
        with self.lock:
            self.events += 1

    def render(self):
        with self.lock:
            out = ["# HELP workload_http_requests_total HTTP requests answered, by route and status code.",
                   "# TYPE workload_http_requests_total counter"]
            out += [f'workload_http_requests_total{{route="{r}",code="{c}"}} {n}' for (r, c), n in sorted(self.requests.items())]
            out += ["# HELP workload_http_request_duration_seconds Time to answer an HTTP request.",
                    "# TYPE workload_http_request_duration_seconds histogram"]
            for route, hist in sorted(self.request_latency.items()):
                out += self._histogram("workload_http_request_duration_seconds", f'route="{route}"', hist)
            out += ["# HELP workload_tier_operations_total Operations on each tier of the platform.",
                    "# TYPE workload_tier_operations_total counter"]
            out += [f'workload_tier_operations_total{{tier="{t}"}} {self.tier_ops[t]}' for t in TIERS]
            out += ["# HELP workload_tier_errors_total Operations on each tier that failed.",
                    "# TYPE workload_tier_errors_total counter"]
            out += [f'workload_tier_errors_total{{tier="{t}"}} {self.tier_errors[t]}' for t in TIERS]
            out += ["# HELP workload_tier_duration_seconds Time each tier's operation took.",
                    "# TYPE workload_tier_duration_seconds histogram"]
            for tier in TIERS:
                out += self._histogram("workload_tier_duration_seconds", f'tier="{tier}"', self.tier_latency[tier])
            out += ["# HELP workload_events_stored_total Events stored on every tier.",
                    "# TYPE workload_events_stored_total counter", f"workload_events_stored_total {self.events}"]
        return "\n".join(out) + "\n"

    def _histogram(self, name, labels, hist):
        lines = [f'{name}_bucket{{{labels},le="{_number(b)}"}} {hist[i]}' for i, b in enumerate(self.buckets)]
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {hist[-1]}')
        lines.append(f"{name}_sum{{{labels}}} {_number(hist[-2])}")
        lines.append(f"{name}_count{{{labels}}} {hist[-1]}")
        return lines


def _number(value):
    return repr(float(value)) if not float(value).is_integer() else f"{float(value):.1f}"
