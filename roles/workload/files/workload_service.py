"""groundwork-workload: the platform's sample service (groundwork.platform.workload).

    POST /events    a camera event (JSON; an empty body: a synthetic one) -> Kafka (acks=all,
                    idempotent), a detection row in the TimescaleDB hypertable, the camera's
                    session in Redis (through Sentinel, WAIT for a replica), the clip in MinIO
                    (multipart); 201 when every tier has it, 503 naming the tier that failed
    GET /healthz    200 once the credentials are read and the clients are made
    GET /metrics    requests, errors and latency per route and per tier (Prometheus text)

At start it logs in to OpenBao with its AppRole and reads its credentials (KV v2); nothing secret
is in its configuration. Client settings follow docs/client-settings.md.
Usage: workload_service.py --config FILE [--check-config]
"""
import argparse
import json
import os
import queue
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload_logic as logic  # noqa: E402  pylint: disable=wrong-import-position


def log(message):
    print(message, file=sys.stderr, flush=True)


def notify_ready():
    """Tell systemd (Type=notify) that the service answers: a restart returns only then."""
    where = os.environ.get("NOTIFY_SOCKET")
    if not where:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect("\0" + where[1:] if where.startswith("@") else where)
        sock.sendall(b"READY=1")


def read_kv(client, path, mount):
    """A KV v2 secret's data; a deleted version is an error (hvac 0.11 on bookworm has no such argument)."""
    kv2 = client.secrets.kv.v2
    try:
        return kv2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)["data"]["data"]
    except TypeError:
        return kv2.read_secret_version(path=path, mount_point=mount)["data"]["data"]


def read_credentials(cfg):
    """Log in to OpenBao (each URL in turn) with the AppRole and read every secret of vault.secrets."""
    import hvac
    vault = cfg["vault"]
    with open(vault["credentials_file"], encoding="utf-8") as fh:
        local = json.load(fh)
    last = None
    for url in vault["urls"]:
        try:
            client = hvac.Client(url=url, verify=cfg["tls_ca_file"], timeout=vault.get("timeout", 5))
            client.auth.approle.login(role_id=local["role_id"], secret_id=local["secret_id"])
            found, cache = {}, {}
            for name, ref in vault["secrets"].items():
                path, field = logic.parse_secret_ref(ref)
                if path not in cache:
                    cache[path] = read_kv(client, path, vault["mount"])
                found[name] = cache[path][field]
            client.logout()
            found["redis_sentinel_password"] = local.get("redis_sentinel_password", "")
            log(f"read {len(vault['secrets'])} credentials from OpenBao at {url}")
            return found
        except Exception as exc:  # pylint: disable=broad-except
            # the next OpenBao node
            last = f"{type(exc).__name__}: {exc}"
            log(f"OpenBao at {url}: {last}")
    raise RuntimeError(f"no OpenBao node gave the credentials: {last}")


class Tiers:
    """The clients of the four tiers, made once; each store_* raises on failure."""

    def __init__(self, cfg, secrets):
        self.cfg = cfg
        self.secrets = secrets
        self._pg_idle = queue.LifoQueue()
        self._make_redis()
        self._make_kafka()
        self._make_minio()

    # PostgreSQL: libpq with a host list (or HAProxy's primary endpoint), short timeouts, keepalives
    def _pg_connect(self):
        import psycopg
        pg = self.cfg["postgresql"]
        return psycopg.connect(
            host=",".join(pg["hosts"]), port=",".join([str(pg["port"])] * len(pg["hosts"])), dbname=pg["dbname"],
            user=pg["user"], password=self.secrets["postgresql_password"], sslmode=pg.get("sslmode", "verify-ca"),
            sslrootcert=self.cfg["tls_ca_file"], connect_timeout=pg.get("connect_timeout", 2),
            target_session_attrs="read-write", keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2,
            tcp_user_timeout=3000, application_name="groundwork-workload",
            options=f"-c statement_timeout={pg.get('statement_timeout_ms', 5000)}", autocommit=True)

    def store_detection(self, event):
        """The INSERT on an idle connection of the pool, or a new one. A pooled connection may have
        been closed while idle (HAProxy's timeouts, a failover): then once more on a new one (the
        INSERT is idempotent)."""
        import psycopg
        try:
            conn, pooled = self._pg_idle.get_nowait(), True
        except queue.Empty:
            conn, pooled = self._pg_connect(), False
        try:
            conn.execute(logic.detection_insert(self.cfg["postgresql"]["table"]), logic.detection_params(event))
        except psycopg.OperationalError:
            conn.close()
            if not pooled:
                raise
            conn = self._pg_connect()
            try:
                conn.execute(logic.detection_insert(self.cfg["postgresql"]["table"]), logic.detection_params(event))
            except Exception:
                conn.close()
                raise
        except Exception:
            conn.close()
            raise
        self._pg_idle.put(conn)

    # Redis through Sentinel: short timeouts, no retry of a dead Sentinel or primary
    def _make_redis(self):
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        from redis.sentinel import Sentinel
        rd = self.cfg["redis"]
        fast = {"socket_timeout": rd.get("socket_timeout", 0.5), "socket_connect_timeout": rd.get("socket_timeout", 0.5),
                "retry": Retry(NoBackoff(), 0)}
        if rd.get("tls", True):
            fast.update(ssl=True, ssl_ca_certs=self.cfg["tls_ca_file"])
        sentinel_auth = {"password": self.secrets["redis_sentinel_password"]} if self.secrets.get("redis_sentinel_password") else {}
        sentinel = Sentinel([tuple(s) for s in rd["sentinels"]], sentinel_kwargs=dict(fast, **sentinel_auth), **fast)
        self.redis = sentinel.master_for(rd["master"], username=rd["user"], password=self.secrets["redis_password"])

    def store_session(self, event):
        rd = self.cfg["redis"]
        key = logic.session_key(rd.get("key_prefix", "workload:"), event["camera_id"])
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=logic.session_fields(event))
        pipe.hincrby(key, "events", 1)
        pipe.expire(key, rd.get("session_ttl", 3600))
        pipe.execute()
        wanted = rd.get("wait_replicas", 1)
        if wanted > 0:
            got = int(self.redis.execute_command("WAIT", wanted, rd.get("wait_ms", 300)))
            if got < wanted:
                raise RuntimeError(f"WAIT: {got} of {wanted} replicas confirmed the session")

    # Kafka: acks=all, idempotent; the delivery report is the acknowledgement
    def _make_kafka(self):
        from confluent_kafka import Producer
        kf = self.cfg["kafka"]
        self.producer = Producer({
            "bootstrap.servers": kf["bootstrap_servers"], "security.protocol": kf.get("security_protocol", "SASL_SSL"),
            "sasl.mechanisms": kf.get("sasl_mechanism", "SCRAM-SHA-512"), "sasl.username": kf["user"],
            "sasl.password": self.secrets["kafka_password"], "ssl.ca.location": self.cfg["tls_ca_file"],
            "acks": "all", "enable.idempotence": True, "delivery.timeout.ms": kf.get("delivery_timeout_ms", 30000),
            "request.timeout.ms": kf.get("request_timeout_ms", 5000), "socket.connection.setup.timeout.ms": 3000,
            "reconnect.backoff.max.ms": 1000, "linger.ms": 5, "client.id": "groundwork-workload"})
        threading.Thread(target=self._kafka_poll, daemon=True).start()

    def _kafka_poll(self):
        while True:
            self.producer.poll(0.1)

    def publish(self, event):
        kf = self.cfg["kafka"]
        done, result = threading.Event(), {}

        def delivered(err, msg):
            result["error"], result["partition"], result["offset"] = err, msg.partition(), msg.offset()
            done.set()
        key, value = logic.kafka_record(event)
        self.producer.produce(kf["topic"], key=key, value=value, on_delivery=delivered)
        if not done.wait(kf.get("delivery_timeout_ms", 30000) / 1000 + 5):
            raise RuntimeError("no delivery report")
        if result["error"] is not None:
            raise RuntimeError(f"Kafka: {result['error'].str()}")
        return {"partition": result["partition"], "offset": result["offset"]}

    # MinIO: one client per node, the next node on a connection error; the clip in parts
    def _make_minio(self):
        import boto3
        from botocore.config import Config
        mn = self.cfg["minio"]
        config = Config(connect_timeout=mn.get("connect_timeout", 1), read_timeout=mn.get("read_timeout", 5),
                        retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"},
                        signature_version="s3v4")
        session = boto3.session.Session()
        self.s3 = [session.client("s3", endpoint_url=url, aws_access_key_id=mn["access_key"],
                                  aws_secret_access_key=self.secrets["minio_secret_key"], region_name=mn.get("region", "us-east-1"),
                                  verify=self.cfg["tls_ca_file"], config=config) for url in mn["endpoints"]]
        self._s3_next = 0

    def store_clip(self, event):
        bucket, key = self.cfg["minio"]["bucket"], logic.clip_key(event)
        parts = logic.clip_parts(event["clip_bytes"], self.cfg["clip"]["part_bytes"])
        last = None
        for _attempt in self.s3:
            client = self.s3[self._s3_next]
            upload = None
            try:
                upload = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/octet-stream")["UploadId"]
                done = []
                for number, offset, length in parts:
                    body = logic.clip_chunk(event["event_id"], offset, length)
                    etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
                    done.append({"PartNumber": number, "ETag": etag})
                client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
                return {"bucket": bucket, "key": key, "parts": len(parts)}
            except Exception as exc:  # pylint: disable=broad-except
                # the next node
                last = exc
                self._s3_next = (self._s3_next + 1) % len(self.s3)
                if upload is not None:
                    try:
                        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
                    except Exception:  # pylint: disable=broad-except
                        pass  # MinIO removes stale uploads itself
        raise last


class Handler(BaseHTTPRequestHandler):
    server_version = "groundwork-workload"
    protocol_version = "HTTP/1.1"
    # the request being answered (_timed sets them, _reply counts it once)
    _route, _start, _counted = "other", 0.0, False

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # one line per request would flood the journal; the metrics count them

    def _reply(self, code, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        # counted before the answer leaves: a client that reads /metrics right after its answer
        # sees its own request counted
        self._count(code)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return code

    def _timed(self, route, fn):
        self._route, self._start, self._counted = route, time.monotonic(), False
        try:
            fn()
        finally:
            if not self._counted:  # it raised before it answered
                self._count(500)

    def _count(self, code):
        self._counted = True
        self.server.metrics.request(self._route, code, time.monotonic() - self._start)

    def do_GET(self):  # noqa: N802
        if self.path == "/healthz":
            self._timed("/healthz", lambda: self._reply(200, {"status": "ok"}))
        elif self.path == "/metrics":
            self._timed("/metrics", lambda: self._reply(200, self.server.metrics.render(), "text/plain; version=0.0.4"))
        else:
            self._timed("other", lambda: self._reply(404, {"error": "not found"}))

    def do_POST(self):  # noqa: N802
        if self.path != "/events":
            self._timed("other", lambda: self._reply(404, {"error": "not found"}))
            return
        self._timed("/events", self._event)

    def _event(self):
        cfg, now = self.server.cfg, time.time()
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            return self._reply(413, {"error": "the body is larger than 64 KiB"})
        raw = self.rfile.read(length) if length else b""
        try:
            if raw.strip():
                body = json.loads(raw)
            else:
                body = logic.synthetic_event(self.server.next_seq(), now, clip_bytes=cfg["clip"]["default_bytes"])
            event = logic.validate_event(body, now, cfg["clip"]["max_bytes"], cfg["clip"]["default_bytes"])
        except ValueError as exc:  # json's errors too
            return self._reply(400, {"error": exc.args[0] if isinstance(exc, logic.InvalidEvent) else str(exc)})
        stored = {"event_id": event["event_id"]}
        steps = (("kafka", self.server.tiers.publish), ("postgresql", self.server.tiers.store_detection),
                 ("redis", self.server.tiers.store_session), ("minio", self.server.tiers.store_clip))
        for tier, store in steps:
            start = time.monotonic()
            try:
                stored[tier] = store(event)
            except Exception as exc:  # pylint: disable=broad-except
                self.server.metrics.tier(tier, False, time.monotonic() - start)
                log(f"event {event['event_id']}: {tier} failed: {type(exc).__name__}: {exc}")
                return self._reply(503, {"error": f"{tier} failed", "detail": f"{type(exc).__name__}", "stored": stored})
            self.server.metrics.tier(tier, True, time.monotonic() - start)
        self.server.metrics.event_stored()
        return self._reply(201, stored)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cfg, tiers):
        self.cfg, self.tiers, self.metrics = cfg, tiers, logic.Metrics()
        self._seq, self._seq_lock = 0, threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in cfg["listen_address"] else socket.AF_INET
        super().__init__((cfg["listen_address"], cfg["port"]), Handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # HAProxy's health checks close with a reset once answered
        super().handle_error(request, client_address)

    def next_seq(self):
        with self._seq_lock:
            self._seq += 1
            return self._seq


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--check-config", action="store_true", help="check the configuration file and exit")
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except (OSError, ValueError) as exc:
        log(f"{args.config}: {exc}")
        return 2
    problems = logic.check_config(cfg) if isinstance(cfg, dict) else ["the configuration must be a JSON object"]
    for problem in problems:
        log(f"{args.config}: {problem}")
    if problems or args.check_config:
        return 2 if problems else 0
    secrets = read_credentials(cfg)
    server = Server(cfg, Tiers(cfg, secrets))
    log(f"listening on {cfg['listen_address']}:{cfg['port']}")
    notify_ready()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
