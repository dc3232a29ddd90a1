"""The sample workload's HTTP server (roles/workload/files/workload_service.py) on a local port,
with stand-in tiers that record what they were given or fail on demand: the routes, the status
codes, the order of the tiers, and what the metrics count. The real tiers are tested on the lab
(tests/lab/test_workload.py)."""
import importlib.util
import json
import pathlib
import threading
import urllib.error
import urllib.request

import pytest

FILES = pathlib.Path(__file__).resolve().parents[3] / "roles/workload/files"
_spec = importlib.util.spec_from_file_location("workload_service", FILES / "workload_service.py")
service = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(service)

MIB = 1024 * 1024
CONFIG = {"listen_address": "127.0.0.1", "port": 0, "clip": {"default_bytes": 6 * MIB, "max_bytes": 8 * MIB, "part_bytes": 5 * MIB}}


class StandInTiers:
    def __init__(self):
        self.calls, self.fail = [], set()

    def _store(self, tier, event, answer=None):
        self.calls.append((tier, event["event_id"]))
        if tier in self.fail:
            raise ConnectionError(f"{tier} is down")
        return answer

    def publish(self, event):
        return self._store("kafka", event, {"partition": 0, "offset": len(self.calls)})

    def store_detection(self, event):
        return self._store("postgresql", event)

    def store_session(self, event):
        return self._store("redis", event)

    def store_clip(self, event):
        return self._store("minio", event, {"bucket": "b", "key": "k", "parts": 2})


@pytest.fixture()
def server():
    tiers = StandInTiers()
    srv = service.Server(dict(CONFIG), tiers)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def call(srv, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(srv.base + path, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sample(srv, name):
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in call(srv, "/metrics")[1].splitlines() if line.startswith(name)}


def test_an_event_goes_to_every_tier_in_turn(server):
    event = {"event_id": "e1", "camera_id": 3, "vehicle_class": "car", "confidence": 0.5, "clip_bytes": 100}
    code, body = call(server, "/events", event)
    assert code == 201, body
    answer = json.loads(body)
    assert answer["event_id"] == "e1" and answer["minio"]["parts"] == 2 and answer["kafka"]["partition"] == 0
    assert server.tiers.calls == [("kafka", "e1"), ("postgresql", "e1"), ("redis", "e1"), ("minio", "e1")]
    counts = sample(server, "workload_")
    assert counts['workload_http_requests_total{route="/events",code="201"}'] == 1
    assert counts["workload_events_stored_total"] == 1
    assert all(counts[f'workload_tier_operations_total{{tier="{t}"}}'] == 1 for t in ("kafka", "postgresql", "redis", "minio"))


def test_an_empty_body_makes_a_synthetic_event(server):
    code, body = call(server, "/events", b"")
    assert code == 201, body
    assert json.loads(body)["event_id"].startswith("syn-") and len(server.tiers.calls) == 4


def test_a_failing_tier_answers_503_naming_it_and_stops_there(server):
    server.tiers.fail.add("redis")
    code, body = call(server, "/events", {"event_id": "e2", "camera_id": 3, "vehicle_class": "bus", "confidence": 0.5})
    assert code == 503 and json.loads(body)["error"] == "redis failed"
    assert [c[0] for c in server.tiers.calls] == ["kafka", "postgresql", "redis"]  # not minio
    counts = sample(server, "workload_")
    assert counts['workload_tier_errors_total{tier="redis"}'] == 1
    assert counts['workload_tier_errors_total{tier="kafka"}'] == 0
    assert counts['workload_tier_operations_total{tier="minio"}'] == 0
    assert counts['workload_http_requests_total{route="/events",code="503"}'] == 1
    assert counts["workload_events_stored_total"] == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", json.dumps({"event_id": "e3", "camera_id": 0}).encode()])
def test_a_bad_body_answers_400_and_reaches_no_tier(server, body):
    code, text = call(server, "/events", body)
    assert code == 400, text
    assert server.tiers.calls == []


def test_health_metrics_and_unknown_routes(server):
    assert call(server, "/healthz") == (200, '{"status": "ok"}')
    assert call(server, "/nowhere")[0] == 404
    code, text = call(server, "/metrics")
    assert code == 200 and "# TYPE workload_tier_duration_seconds histogram" in text
    counts = sample(server, "workload_http_requests_total")
    assert counts['workload_http_requests_total{route="/healthz",code="200"}'] == 1
    assert counts['workload_http_requests_total{route="other",code="404"}'] == 1


def test_it_tells_systemd_it_is_ready(tmp_path, monkeypatch):
    """Type=notify: READY=1 on $NOTIFY_SOCKET (a restart by the role's handler returns only then)."""
    import socket
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        service.notify_ready()
        assert listener.recv(64) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    service.notify_ready()  # outside systemd: nothing to tell, no error


class StandInConnection:
    def __init__(self, broken=False):
        self.broken, self.closed, self.executed = broken, False, []

    def execute(self, sql, params):
        if self.broken:
            import psycopg
            raise psycopg.OperationalError("consuming input failed: SSL SYSCALL error: EOF detected")
        self.executed.append((sql, params))

    def close(self):
        self.closed = True


def detection_tiers(fresh):
    """Tiers with only its PostgreSQL part, connections from `fresh` (a list, used in order)."""
    import queue
    tiers = object.__new__(service.Tiers)
    tiers.cfg = {"postgresql": {"table": "vehicle_detections"}}
    tiers._pg_idle = queue.LifoQueue()  # pylint: disable=protected-access
    tiers._pg_connect = lambda: fresh.pop(0)  # pylint: disable=protected-access
    return tiers


EVENT = {"event_id": "e1", "camera_id": 1, "time": 1_764_900_000.0, "vehicle_class": "car", "confidence": 0.5}


def test_a_pooled_connection_closed_while_idle_is_replaced_once():
    new = StandInConnection()
    tiers = detection_tiers([new])
    stale = StandInConnection(broken=True)
    tiers._pg_idle.put(stale)  # pylint: disable=protected-access
    tiers.store_detection(EVENT)
    assert stale.closed and len(new.executed) == 1 and tiers._pg_idle.get_nowait() is new  # pylint: disable=protected-access


def test_a_new_connection_that_fails_is_not_tried_again():
    import psycopg
    broken = StandInConnection(broken=True)
    tiers = detection_tiers([broken, StandInConnection()])
    with pytest.raises(psycopg.OperationalError):
        tiers.store_detection(EVENT)
    assert broken.closed and tiers._pg_idle.empty()  # pylint: disable=protected-access
