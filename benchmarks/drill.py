#!/usr/bin/env python3
"""The platform drill: on the running lab (`make lab`), bounded load on every tier at once while
hosts, service processes and the network break, one event at a time.

Load, from this machine to the lab's containers only (their addresses on the lab network), each
tier one operation at a time at a fixed rate, with the client settings of docs/client-settings.md:
  postgresql  INSERT (autocommit) through HAProxy's primary endpoint lab-lb1:5000, as the
              application user (its password read from OpenBao); a committed row is acknowledged
  redis       SET + WAIT 1 through Sentinel (redis-py, short timeouts, no retry of a dead
              Sentinel); a write that one replica confirmed is acknowledged
  http        GET /metrics through HAProxy's :9101 frontend (node_exporter of every lab host)
  minio       PUT of a 256 KiB object, then GET and compare, on one of the three nodes (the next
              node on a connection error); a completed upload is acknowledged
  kafka       produce to camera-events with acks=all and idempotence (confluent-kafka); a
              delivery report without error is acknowledged
  workload    POST /events to the sample workload (roles/workload) through HAProxy's :8090, one event
              a second with a 256 KiB clip: each one goes to Kafka, the hypertable, Redis and MinIO;
              a 201 is acknowledged, and verified by its detection row in the hypertable (the other
              tiers' own loads check that acknowledged writes survive). It does not gate the waits.
Events, in turn (--events picks some): `docker kill` of each lab node then `docker start`; SIGKILL
of single service processes (the PostgreSQL primary's postmaster, the Redis primary, HAProxy, one
Kafka broker, one MinIO server); the PostgreSQL leader's host cut off the network for 30 s (every
packet to and from it dropped on the lab's bridge, see cut_leader); every lab host shut down and
started again at once (restart_lab). Before each event the
platform must be whole (every liveness probe up, no HostDown/ServiceDown, every Patroni member
running, two Redis replicas, no under-replicated Kafka partition); after it the broken thing is
repaired and the drill waits for the platform to be whole again and records whether the host
rejoined (a PostgreSQL replica, a Redis replica that Sentinel knows, a Kafka broker in every ISR).
Per tier and event, from the break to its repair and from the repair to the platform whole again:
the longest time without a successful operation, failed operations, the longest operation;
afterwards every acknowledged write is read back (lost must be 0). A second Redis client on
redis-py's defaults (`redis_defaults`) writes beside the first, to show what the defaults cost.
Alerts: Prometheus's
alerts API sampled every 3 s (which fired, when, and when they resolved). `--rerun` ends with a
`site.yml` rerun on the lab and records each host's changed count.

    .venv/bin/python benchmarks/drill.py [--events NAME ...] [--list] [--rerun]
Writes build/benchmarks/drill.json (`make report` turns it into docs/platform-report.md). Every
loop is bounded in count and time; every break is repaired before the next event.
"""
import argparse
import hashlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import alert_drill as lab
import postgresql_bench
import site_rerun as site_rerun_bench

ROOT = pathlib.Path(__file__).resolve().parents[1]
CA = str(lab.SECRETS / "ca" / "ca.crt")
NODES = ("lab-node1", "lab-node2", "lab-node3")
LB = "lab-lb1"
MAX_SECONDS = 3 * 3600  # no drill runs longer, whatever happens

# The client settings the platform's numbers depend on (docs/client-settings.md explains each).
PG_CLIENT = {"port": 5000, "dbname": "metrics", "user": "metrics_writer", "connect_timeout": 2,
             "sslmode": "verify-ca", "sslrootcert": CA, "target_session_attrs": "read-write",
             "keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1, "keepalives_count": 2,
             "tcp_user_timeout": 3000, "application_name": "drill", "options": "-c statement_timeout=5000"}
REDIS_CLIENT = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "ssl": True, "ssl_ca_certs": CA}
REDIS_WAIT_MS = 300
HTTP_TIMEOUT = (2, 5)  # connect, read
MINIO_TIMEOUT = {"connect": 1, "read": 5}
KAFKA_CLIENT = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "app",
                "ssl.ca.location": CA, "acks": "all", "enable.idempotence": True, "delivery.timeout.ms": 30000,
                "request.timeout.ms": 5000, "socket.connection.setup.timeout.ms": 3000, "linger.ms": 5,
                "reconnect.backoff.max.ms": 1000}


def address(host):
    return subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", host],
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=timeout)


def openbao_secrets(addrs):
    """The application passwords, read from OpenBao with the controller's AppRole (as the roles do)."""
    import hvac
    for node in NODES:
        try:
            client = hvac.Client(url=f"https://{addrs[node]}:8200", verify=CA, timeout=5)
            client.auth.approle.login(role_id="groundwork-lab-platform", secret_id=lab.secret("vault_platform_secret_id"))
            kv = lambda p: client.secrets.kv.v2.read_secret_version(path=p, mount_point="secret",  # noqa: E731
                                                                     raise_on_deleted_version=True)["data"]["data"]
            return {"postgresql": kv("platform/postgresql")["metrics_writer_password"], "redis": kv("platform/redis")["app_password"]}
        except Exception as exc:  # pylint: disable=broad-except
            last = exc
    raise RuntimeError(f"no OpenBao node answered: {last}")


class Tier:
    """One client doing one operation at a time every `interval` seconds. Each operation is a
    sample (start relative to the drill's start, seconds it took, ok, error index)."""
    name = "tier"
    interval = 0.1
    gate = True  # the drill waits for this tier's operations to succeed again

    def __init__(self, ctx):
        self.ctx = ctx
        self.samples, self.errors, self.acked = [], [], []
        self.lock = threading.Lock()

    def record(self, start, took, ok, error=None):
        with self.lock:
            code = None
            if error is not None:
                text = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160] if str(error).strip() else ''}"
                if text not in self.errors:
                    self.errors.append(text)
                code = self.errors.index(text)
            self.samples.append((round(start - self.ctx["t0"], 3), round(took, 4), ok, code))

    def reset(self):
        """Forget connections after a failure (the next operation opens new ones)."""

    def op(self, n):
        raise NotImplementedError

    def run(self, stop):
        n, due = 0, time.time()
        while not stop.is_set() and time.time() < self.ctx["deadline"]:
            n += 1
            start = time.time()
            try:
                self.op(n)
                self.record(start, time.time() - start, True)
            except Exception as exc:  # pylint: disable=broad-except
                self.record(start, time.time() - start, False, exc)
                self.reset()
            due = max(due + self.interval, time.time())
            stop.wait(max(0.0, due - time.time()))

    def recent_ok(self, count=5):
        with self.lock:
            last = self.samples[-count:]
        return len(last) == count and all(s[2] for s in last)

    def finish(self):
        """Stop sending (the Kafka producer flushes)."""

    def verify(self):
        """The acknowledged writes that cannot be read back."""
        return []


class PostgreSQL(Tier):
    name = "postgresql"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.conn = None
        self.dsn = dict(PG_CLIENT, host=ctx["addrs"][LB], password=ctx["passwords"]["postgresql"])

    def connect(self):
        import psycopg
        return psycopg.connect(**self.dsn, autocommit=True)

    def setup(self):
        with self.connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS drill_writes (run text NOT NULL, n integer NOT NULL, "
                         "at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, n))")
            # The lab grants metrics_writer SELECT, INSERT on every table in public
            # (postgresql_privileges, ALL_IN_SCHEMA). The drill's own table gets that grant when it
            # is made, as the role would give it: otherwise the first site.yml rerun after a drill
            # on a new lab reports the grant as its one change (it did: changed=1), which measures
            # the drill's DDL, not the platform.
            conn.execute("GRANT SELECT, INSERT ON drill_writes TO metrics_writer")

    def reset(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except
                pass
        self.conn = None

    def op(self, n):
        if self.conn is None:
            self.conn = self.connect()
        self.conn.execute("INSERT INTO drill_writes (run, n) VALUES (%s, %s)", (self.ctx["run"], n))
        self.acked.append(n)

    def verify(self):
        with self.connect() as conn:
            found = {r[0] for r in conn.execute("SELECT n FROM drill_writes WHERE run = %s", (self.ctx["run"],))}
            conn.execute("DELETE FROM drill_writes WHERE run = %s", (self.ctx["run"],))
        return [n for n in self.acked if n not in found]


def sentinel(ctx, **kwargs):
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel
    no_retry = dict(REDIS_CLIENT, retry=Retry(NoBackoff(), 0))
    return Sentinel([(ctx["addrs"][n], 26379) for n in NODES],
                    sentinel_kwargs=dict(no_retry, password=lab.secret("redis_sentinel_password")), **no_retry, **kwargs)


class Redis(Tier):
    name = "redis"
    master = "redis"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.client = sentinel(ctx, username="app", password=ctx["passwords"]["redis"]).master_for(self.master)

    def setup(self):
        self.client.ping()

    def key(self, n):
        return f"drill:{self.ctx['run']}:{self.name}:{n}"

    def op(self, n):
        key = self.key(n)
        self.client.set(key, n, ex=3 * 3600)
        replicas = self.client.execute_command("WAIT", 1, REDIS_WAIT_MS)
        if int(replicas) < 1:
            raise RuntimeError("WAIT: no replica confirmed the write")
        self.acked.append(n)

    def verify(self):
        lost = []
        for i in range(0, len(self.acked), 500):
            chunk = self.acked[i:i + 500]
            values = self.client.mget([self.key(n) for n in chunk])
            lost += [n for n, v in zip(chunk, values) if v is None or int(v) != n]
        return lost


class RedisDefaults(Redis):
    """The same writes through a Sentinel client on redis-py's defaults (no socket timeouts, three
    retries with backoff): what the defaults cost. It does not gate the drill's waits."""
    name = "redis_defaults"
    gate = False

    def __init__(self, ctx):  # pylint: disable=super-init-not-called
        Tier.__init__(self, ctx)
        from redis.sentinel import Sentinel
        tls = {"ssl": True, "ssl_ca_certs": CA}
        self.client = Sentinel([(ctx["addrs"][n], 26379) for n in NODES],
                               sentinel_kwargs=dict(tls, password=lab.secret("redis_sentinel_password")),
                               username="app", password=ctx["passwords"]["redis"], **tls).master_for(self.master)


class Http(Tier):
    name = "http"

    def __init__(self, ctx):
        super().__init__(ctx)
        import requests
        self.session = requests.Session()
        self.url = f"http://{ctx['addrs'][LB]}:9101/metrics"

    def setup(self):
        self.op(0)

    def op(self, n):
        response = self.session.get(self.url, timeout=HTTP_TIMEOUT)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")


class MinIO(Tier):
    name = "minio"
    interval = 0.5
    bucket = "its-video"
    size = 256 * 1024

    def __init__(self, ctx):
        super().__init__(ctx)
        import urllib3
        from minio import Minio
        pool = urllib3.PoolManager(timeout=urllib3.Timeout(**MINIO_TIMEOUT), retries=urllib3.Retry(total=0),
                                   cert_reqs="CERT_REQUIRED", ca_certs=CA, maxsize=2)
        self.clients = [Minio(f"{ctx['addrs'][n]}:9000", access_key="groundwork-admin", secret_key=lab.secret("minio_root_password"),
                              secure=True, region="us-east-1", http_client=pool) for n in NODES]
        self.current = 0
        self.data = os.urandom(self.size)
        self.digest = hashlib.sha256(self.data).hexdigest()

    def setup(self):
        self.clients[0].bucket_exists(self.bucket)

    def key(self, n):
        return f"drill/{self.ctx['run']}/{n}"

    def op(self, n):
        error = None
        for _ in NODES:  # the next node when one does not answer
            client = self.clients[self.current]
            try:
                client.put_object(self.bucket, self.key(n), io.BytesIO(self.data), self.size)
                self.acked.append(n)
                response = client.get_object(self.bucket, self.key(n))
                try:
                    got = response.read()
                finally:
                    response.close()
                    response.release_conn()
                if hashlib.sha256(got).hexdigest() != self.digest:
                    raise RuntimeError("the object read back differs")
                return
            except Exception as exc:  # pylint: disable=broad-except
                error = exc
                self.current = (self.current + 1) % len(self.clients)
        raise error

    def verify(self):
        """Every completed upload listed, or found by a HEAD on each node; the drill's objects are
        removed only afterwards."""
        names = None
        for client in self.clients:
            try:
                names = {o.object_name for o in client.list_objects(self.bucket, prefix=f"drill/{self.ctx['run']}/", recursive=True)}
                break
            except Exception:  # pylint: disable=broad-except
                continue
        if names is None:
            raise RuntimeError("no MinIO node lists the bucket")
        lost = []
        for n in (n for n in self.acked if self.key(n) not in names):
            if not any(self.exists(client, self.key(n)) for client in self.clients):
                lost.append(n)
        for name in names:
            try:
                self.clients[0].remove_object(self.bucket, name)
            except Exception:  # pylint: disable=broad-except
                pass  # the bucket's lifecycle rule removes what is left
        return lost

    def exists(self, client, key):
        try:
            client.stat_object(self.bucket, key)
            return True
        except Exception:  # pylint: disable=broad-except
            return False


class Kafka(Tier):
    """The producer sends without waiting; each delivery report is the sample (from produce to
    report), so a record held in the producer while a partition has no leader shows as latency."""
    name = "kafka"
    topic = "camera-events"
    interval = 0.1

    def __init__(self, ctx):
        super().__init__(ctx)
        from confluent_kafka import Producer
        self.conf = dict(KAFKA_CLIENT, **{"bootstrap.servers": ",".join(f"{ctx['addrs'][n]}:9092" for n in NODES),
                                          "sasl.password": lab.secret("kafka_app_password")})
        self.producer = Producer(self.conf)
        self.start_offsets = {}

    def consumer(self):
        from confluent_kafka import Consumer
        producer_only = ("acks", "enable.idempotence", "delivery.timeout.ms", "linger.ms", "request.timeout.ms")
        return Consumer(dict({k: v for k, v in self.conf.items() if k not in producer_only},
                             **{"group.id": f"app-drill-{self.ctx['run']}", "enable.auto.commit": False}))

    def setup(self):
        """Where each partition ends before the drill writes: verify() reads from there."""
        from confluent_kafka import TopicPartition
        meta = self.producer.list_topics(self.topic, timeout=10)
        consumer = self.consumer()
        for p in meta.topics[self.topic].partitions:
            self.start_offsets[p] = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1]
        consumer.close()

    def op(self, n):
        start = time.time()

        def delivered(err, msg):
            if err is None:
                self.acked.append(n)
            self.record(start, time.time() - start, err is None, None if err is None else RuntimeError(err.str()))
        self.producer.produce(self.topic, value=f"{self.ctx['run']}:{n}".encode(), on_delivery=delivered)
        self.producer.poll(0)

    def run(self, stop):
        # op() records nothing itself: the delivery report does
        n, due = 0, time.time()
        while not stop.is_set() and time.time() < self.ctx["deadline"]:
            n += 1
            try:
                self.op(n)
            except Exception as exc:  # pylint: disable=broad-except  (BufferError: the queue is full)
                self.record(time.time(), 0.0, False, exc)
            due = max(due + self.interval, time.time())
            stop.wait(max(0.0, due - time.time()))

    def finish(self):
        self.producer.flush(40)

    def under_replicated(self):
        meta = self.producer.list_topics(self.topic, timeout=5)
        return [p for p in meta.topics[self.topic].partitions.values() if len(p.isrs) < len(p.replicas)]

    def broker_in_every_isr(self, broker):
        meta = self.producer.list_topics(self.topic, timeout=5)
        return all(broker in p.isrs for p in meta.topics[self.topic].partitions.values() if broker in p.replicas)

    def verify(self):
        """Read every partition from where it ended before the drill to where it ends now."""
        from confluent_kafka import TopicPartition
        consumer = self.consumer()
        ends = {p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1] for p in self.start_offsets}
        todo = {p for p in ends if ends[p] > self.start_offsets[p]}
        consumer.assign([TopicPartition(self.topic, p, self.start_offsets[p]) for p in todo])
        seen, end = set(), time.time() + 180
        prefix = f"{self.ctx['run']}:".encode()
        while todo and time.time() < end:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.value() and msg.value().startswith(prefix):
                seen.add(int(msg.value()[len(prefix):]))
            if msg.offset() is not None and msg.offset() >= ends[msg.partition()] - 1:
                todo.discard(msg.partition())
        consumer.close()
        return [n for n in self.acked if n not in seen]


class Workload(Http):
    """The sample workload's POST /events through HAProxy: every tier of the platform in one request."""
    name = "workload"
    interval = 1.0
    gate = False
    camera_base = 1_900_000_000  # camera ids no other load uses; the rows are told apart by the drill's start

    def __init__(self, ctx):
        super().__init__(ctx)
        self.url = f"http://{ctx['addrs'][LB]}:8090/events"
        self.times = {}

    def setup(self):
        self.op(0)

    def op(self, n):
        when = round(time.time(), 6)
        event = {"event_id": f"drill-{self.ctx['run']}-{n}", "camera_id": self.camera_base + n, "time": when,
                 "vehicle_class": "car", "confidence": 0.9, "clip_bytes": 256 * 1024}
        response = self.session.post(self.url, json=event, timeout=(2, 40))
        if response.status_code != 201:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
        self.acked.append(n)

    def verify(self):
        import psycopg
        dsn = dict(PG_CLIENT, host=self.ctx["addrs"][LB], password=self.ctx["passwords"]["postgresql"])
        with psycopg.connect(**dsn, autocommit=True) as conn:
            found = {r[0] - self.camera_base for r in conn.execute(
                "SELECT camera_id FROM vehicle_detections WHERE camera_id >= %s AND time >= to_timestamp(%s)",
                (self.camera_base, self.ctx["t0"] - 60))}
        return [n for n in self.acked if n not in found]


TIERS = {t.name: t for t in (PostgreSQL, Redis, RedisDefaults, Http, MinIO, Kafka, Workload)}


class Alerts:
    """Prometheus's active alerts sampled every 3 s: when each was first seen firing and last seen."""

    def __init__(self, ctx):
        self.ctx, self.seen = ctx, {}

    def run(self, stop):
        while not stop.is_set() and time.time() < self.ctx["deadline"]:
            try:
                now = time.time() - self.ctx["t0"]
                for alert in lab.prom("/api/v1/alerts")["alerts"]:
                    labels = alert["labels"]
                    if alert["state"] != "firing" or labels["alertname"] == "Watchdog":
                        continue
                    key = json.dumps({k: labels[k] for k in sorted(labels) if k in ("alertname", "instance", "service", "job", "proxy")})
                    entry = self.seen.setdefault(key, {"labels": json.loads(key), "severity": labels.get("severity", ""),
                                                       "intervals": []})
                    if entry["intervals"] and now - entry["intervals"][-1][1] < 10:
                        entry["intervals"][-1][1] = round(now, 1)
                    else:
                        entry["intervals"].append([round(now, 1), round(now, 1)])
            except Exception:  # pylint: disable=broad-except  (Prometheus busy: the next sample)
                pass
            stop.wait(3)


def patroni_members():
    try:
        return {m["Member"]: m for m in postgresql_bench.members(NODES)}
    except Exception:  # pylint: disable=broad-except
        return {}


def pg_leader():
    return next(n for n, m in patroni_members().items() if m["Role"] == "Leader")


def redis_roles(ctx):
    """{node: 'master' | 'replica'} of the nodes Sentinel knows as up."""
    s = sentinel(ctx)
    ip, _ = s.discover_master(Redis.master)
    roles = {n: "master" for n in NODES if ctx["addrs"][n] == ip}
    for rip, _ in s.discover_slaves(Redis.master):
        roles.update({n: "replica" for n in NODES if ctx["addrs"][n] == rip})
    return roles


def whole(ctx, tiers):
    """What is not whole yet (empty: the platform is whole)."""
    missing = []
    try:
        if not lab.whole():
            missing.append("liveness probes / HostDown / ServiceDown")
    except Exception as exc:  # pylint: disable=broad-except
        missing.append(f"prometheus: {exc}")
    members = patroni_members()
    if len(members) != 3 or not all(m["State"] in ("running", "streaming") for m in members.values()):
        missing.append("patroni members")
    try:
        if len(redis_roles(ctx)) != 3:
            missing.append("redis replicas")
    except Exception as exc:  # pylint: disable=broad-except
        missing.append(f"sentinel: {exc}")
    if "kafka" in tiers:
        try:
            if tiers["kafka"].under_replicated():
                missing.append("kafka ISR")
        except Exception as exc:  # pylint: disable=broad-except
            missing.append(f"kafka: {exc}")
    if not all(t.recent_ok() for t in tiers.values() if t.gate):
        missing.append("tiers: " + ",".join(n for n, t in tiers.items() if t.gate and not t.recent_ok()))
    return missing


def wait_whole(ctx, tiers, timeout):
    end, missing = time.time() + timeout, ["not checked"]
    while time.time() < end:
        missing = whole(ctx, tiers)
        if not missing:
            return None
        time.sleep(3)
    return missing


def rejoined(ctx, tiers, host):
    """The host's roles after the repair (each node's, after a restart of the whole lab)."""
    if host == ALL:
        return {n: rejoined(ctx, tiers, n) for n in NODES}
    out = {}
    member = patroni_members().get(host, {})
    out["postgresql"] = f"{member.get('Role', 'absent')} ({member.get('State', '-')})"
    try:
        out["redis"] = redis_roles(ctx).get(host, "absent")
    except Exception as exc:  # pylint: disable=broad-except
        out["redis"] = f"unknown: {exc}"
    if "kafka" in tiers and host in NODES:
        try:
            out["kafka"] = "in every ISR" if tiers["kafka"].broker_in_every_isr(NODES.index(host) + 1) else "not in every ISR"
        except Exception as exc:  # pylint: disable=broad-except
            out["kafka"] = f"unknown: {exc}"
    return out


# Events: (name, what, break(ctx) -> host, repair(ctx, host)[, longest break in s, 180 if not
# given]). Each break is repaired.
def kill_host(node):
    return (f"kill_{node}", f"`docker kill {node}`, `docker start` after the tiers recovered",
            lambda ctx: (docker("kill", node), node)[1], lambda ctx, host: docker("start", host))


def kill_leader_host():
    def brk(ctx):
        host = pg_leader()
        docker("kill", host)
        return host
    return ("kill_pg_leader_host", "`docker kill` of the PostgreSQL leader's host, `docker start` after the tiers recovered",
            brk, lambda ctx, host: docker("start", host))


def kill_unit(name, unit, pick, what):
    def brk(ctx):
        host = pick(ctx)
        lab.dx(host, f"systemctl kill --signal=SIGKILL {unit}")
        return host
    return (name, f"SIGKILL {what}", brk, lambda ctx, host: lab.dx(host, f"systemctl start {unit}"))


def kill_postmaster(ctx):
    host = pg_leader()
    # the postmaster: the oldest process named postgres (Patroni starts it again)
    lab.dx(host, "kill -KILL $(pgrep -o -u postgres -x postgres)")
    return host


def cut_leader(ctx):
    """The PostgreSQL leader's host cut off for 30 s: every packet to and from it dropped on the
    lab's bridge. Not `docker network disconnect`: the lab's network has no subnet of the
    operator's (`--ip` is refused on it), so a host connected again may come back with another
    address, which etcd's and Patroni's member lists would not know."""
    host = pg_leader()
    lab.cut(host, "-I", "groundwork-drill")
    try:
        time.sleep(30)
    finally:
        lab.cut(host, "-D", "groundwork-drill")
    return host


def redis_primary(ctx):
    return next(n for n, r in redis_roles(ctx).items() if r == "master")


ALL = "every lab host"


def restart_lab(ctx):
    """Every lab host shut down at once (`docker stop`, the containers' systemd stops the services
    in order), then started again in the order `make lab` created them: docker gives each the
    lowest free address of the lab network, so each gets its old one back (checked: a host with
    another address would be a different failure, recorded as such)."""
    hosts = NODES + (LB, lab.MON)
    docker("stop", "-t", "60", *hosts, timeout=180)  # the docker CLI stops the containers it is given concurrently
    for h in hosts:
        docker("start", h)
    moved = {h: a for h in hosts if (a := address(h)) != ctx["addrs"][h]}
    if moved:
        raise RuntimeError(f"lab hosts came back with other addresses: {moved}")
    return ALL


EVENTS = [kill_host(n) for n in NODES] + [
    ("kill_postmaster", "SIGKILL of the PostgreSQL leader's postmaster (Patroni starts it again)", kill_postmaster,
     lambda ctx, host: None),
    kill_unit("kill_redis_primary", "redis-server", redis_primary, "redis-server on the Redis primary"),
    kill_unit("kill_haproxy", "haproxy", lambda ctx: LB, "haproxy on lab-lb1"),
    kill_unit("kill_kafka", "kafka", lambda ctx: "lab-node2", "kafka on lab-node2"),
    kill_unit("kill_minio", "minio", lambda ctx: "lab-node3", "minio on lab-node3"),
    ("cut_pg_leader", "the PostgreSQL leader's host cut off for 30 s (every packet to and from it dropped, the clients' too)",
     cut_leader, lambda ctx, host: None),
    # a cold start of everything: its break lasts until the tiers succeed again, up to 10 minutes
    ("restart_lab", "every lab host shut down at once (`docker stop`) and started again", restart_lab,
     lambda ctx, host: None, 600),
]
# not in the default run: asked for by name, as often as wanted (--events kill_pg_leader_host kill_pg_leader_host ...)
EXTRA_EVENTS = [kill_leader_host()]


def outcome(samples, errors, t0, t1):
    """Operations started in [t0, t1): how many failed, the longest one, the longest time without
    a successful operation from t0 on (a failure and an operation that hangs both count), and the
    seconds from t0 until the first success that started after the last failure (0: none failed)."""
    window = [s for s in samples if t0 <= s[0] < t1]
    failed = [s for s in window if not s[2]]
    done = sorted(s[0] + s[1] for s in window if s[2])
    stall = max((b - a for a, b in zip([t0] + done, done)), default=t1 - t0)
    recovered = 0.0
    if failed:
        last = max(s[0] for s in failed)
        after = [s for s in window if s[2] and s[0] > last]
        recovered = round(after[0][0] + after[0][1] - t0, 2) if after else None
    return {"ops": len(window), "failed": len(failed), "recovered_s": recovered, "stall_s": round(stall, 2),
            "max_latency_s": round(max((s[1] for s in window), default=0), 2),
            "slow_ops": sum(1 for s in window if s[1] > 1.0),
            "first_failure_s": round(min(s[0] for s in failed) - t0, 2) if failed else None,
            "errors": sorted({errors[s[3]] for s in failed if s[3] is not None})[:5]}


# What Patroni 4 logs in a leader race. Each member asks every member it may have to yield to
# (in synchronous mode only the synchronous standby and the former leader) for its state
# (ha.py fetch_node_status): one that answers is logged "Got response from", the lost leader
# "Request failed to" when the request's timeout (2 s, written into Patroni, and named in the
# line) has run out. The winner then logs its promotion.
RESPONSE = re.compile(r"Got response from ")
GIVEN_UP = re.compile(r"Request failed to (?P<member>\S+): GET ")
TIMEOUT = re.compile(r"connect timeout=(?P<s>[0-9.]+)")
PROMOTED = re.compile(r"promoted self to leader")
RACE_MARKS = ("race_began", "lost_leader_given_up", "promoted")


def patroni_timeline(lines, t0, old_leader):
    """Seconds from the break (epoch `t0`) to the first time after it of: the leader race
    beginning (the first member answering, or the request to the lost leader starting: its
    failure less the timeout the line names), the lost leader given up, the promotion; from the
    `journalctl -o short-unix` lines of the members that stayed. A request to a member other than
    the old leader does not count as giving it up. Marks not found are left out."""
    found = {}

    def mark(key, at):
        found[key] = min(found.get(key, at), at)
    for line in lines:
        head, _, text = line.partition(" ")
        try:
            at = float(head)
        except ValueError:
            continue
        if at < t0:
            continue
        if RESPONSE.search(text):
            mark("race_began", at)
        elif (m := GIVEN_UP.search(text)) and m.group("member") == old_leader:
            mark("lost_leader_given_up", at)
            if (timeout := TIMEOUT.search(text)):
                mark("race_began", at - float(timeout.group("s")))
        elif PROMOTED.search(text):
            mark("promoted", at)
    return {k: round(found[k] - t0, 2) for k in RACE_MARKS if k in found}


def leader_race(ctx, record):
    """When the event moved PostgreSQL's leader: where the time to the first write went."""
    old = record.get("before", {}).get("pg_leader")
    if not old or record.get("host") not in NODES:
        return None  # not one host's break (the whole lab restarted: its journals start anew)
    new = pg_leader()
    if new == old:
        return None
    t0 = ctx["t0"] + record["t0"]
    lines = []
    for host in NODES:
        if host == record.get("host") and record.get("name", "").startswith("kill"):
            continue  # a killed host was down during the race; its journal since is its new boot's
        lines += lab.dx(host, f"journalctl -u patroni -o short-unix --no-pager --since @{int(t0)} --until @{int(t0) + 120}",
                        check=False).splitlines()
    out = {"old": old, "new": new, **patroni_timeline(lines, t0, old)}
    out["writes_back"] = record["tiers"].get("postgresql", {}).get("recovered_s")
    return out


def tier_outcome(tier, t0, t1):
    with tier.lock:
        samples = list(tier.samples)
    return outcome(samples, tier.errors, t0, t1)


def run_event(ctx, tiers, event, hold, settle):
    name, what, brk, repair = event[:4]
    longest = event[4] if len(event) > 4 else 180  # seconds a break may last before it is repaired
    missing = wait_whole(ctx, tiers, 600)
    if missing:
        raise RuntimeError(f"the platform is not whole before {name}: {missing}")
    time.sleep(settle)
    rel = lambda: round(time.time() - ctx["t0"], 2)  # noqa: E731
    record = {"name": name, "what": what}
    try:
        record["before"] = {"pg_leader": pg_leader(), "redis_primary": redis_primary(ctx),
                            # when etcd's leader goes with the PostgreSQL leader, the new etcd leader renews
                            # every lease: the leader key outlives the loss by a full ttl
                            "etcd_leader": [r["metric"]["instance"] for r in lab.query("etcd_server_is_leader == 1")]}
    except Exception as exc:  # pylint: disable=broad-except
        record["before"] = {"error": str(exc)}
    record["t0"] = rel()
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {what}", flush=True)
    try:
        host = brk(ctx)
        record["host"] = host
        # hold the break until every tier has succeeded again (bounded), at least `hold` s
        end = time.time() + longest
        time.sleep(hold)
        while time.time() < end and not all(t.recent_ok() for t in tiers.values() if t.gate):
            time.sleep(1)
    finally:
        record["t_repair"] = rel()
        repair(ctx, record.get("host"))
    missing = wait_whole(ctx, tiers, 420)
    record["t_whole"] = rel()
    record["whole"] = missing is None
    record["not_whole"] = missing
    record["rejoin"] = rejoined(ctx, tiers, record.get("host"))
    # the break (event to repair) and the repair (to the platform whole again), apart
    record["tiers"] = {n: tier_outcome(t, record["t0"], record["t_repair"]) for n, t in tiers.items()}
    record["tiers_repair"] = {n: tier_outcome(t, record["t_repair"], record["t_whole"]) for n, t in tiers.items()}
    try:
        record["leader_race"] = leader_race(ctx, record)
    except Exception as exc:  # pylint: disable=broad-except
        record["leader_race"] = {"error": str(exc)}
    print(json.dumps({k: record[k] for k in ("name", "host", "whole", "rejoin")}), flush=True)
    for n, o in record["tiers"].items():
        r = record["tiers_repair"][n]
        print(f"    {n:14} failed {o['failed']:4}/{o['ops']:5}  recovered {o['recovered_s']} s  no success for {o['stall_s']} s"
              f"  longest op {o['max_latency_s']} s; after the repair failed {r['failed']}, longest op {r['max_latency_s']} s"
              f"  {o['errors'][:2]}", flush=True)
    return record


def bounded(fn, timeout):
    """fn() in a thread, given up after `timeout` s (a client on library defaults may hang)."""
    box = {}

    def call():
        try:
            box["value"] = fn()
        except Exception as exc:  # pylint: disable=broad-except
            box["value"] = f"not verified: {type(exc).__name__}: {exc}"
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout)
    return box.get("value", f"not verified: no answer within {timeout} s")


def site_rerun():
    """site.yml on the lab under Mitogen, as `make lab` runs it (benchmarks/site_rerun.py)."""
    run = site_rerun_bench.one_run("mitogen_linear", exit_on_failure=False)
    return dict(run, changed_total=run["totals"]["changed"])


def lab_settings():
    """The timings the drill ran under, read from the lab's hosts."""
    out = {}
    try:
        cfg = lab.dx(NODES[0], "patronictl -c /etc/patroni/config.yml show-config")
        out["patroni"] = {k: v for k, v in re.findall(r"^(ttl|loop_wait|retry_timeout): (\d+)", cfg, re.M)}
    except Exception as exc:  # pylint: disable=broad-except
        out["patroni"] = str(exc)
    try:
        conf = lab.dx(LB, "cat /etc/haproxy/haproxy.cfg")
        out["haproxy"] = {"defaults": re.findall(r"^\s+(timeout connect \S+|retries \d+|option redispatch.*)$", conf, re.M),
                          "checks": sorted(set(re.findall(r"^\s+default-server (.*)$", conf, re.M))),
                          "retry_on": sorted(set(re.findall(r"^\s+retry-on (.*)$", conf, re.M)))}
    except Exception as exc:  # pylint: disable=broad-except
        out["haproxy"] = str(exc)
    try:
        # two lines of the environment file (which also holds the root credentials: only these are read)
        lines = lab.dx(NODES[0], "grep -E '^MINIO_(CONN_USER|DRIVE_MAX)_TIMEOUT=' /etc/default/minio || true").split()
        found = dict(x.split("=", 1) for x in lines if "=" in x)
        out["minio"] = {name.lower(): found[f"MINIO_{name}"].strip('"') if f"MINIO_{name}" in found else f"not set (MinIO's default, {default})"
                        for name, default in (("CONN_USER_TIMEOUT", "10m"), ("DRIVE_MAX_TIMEOUT", "30s"))}
    except Exception as exc:  # pylint: disable=broad-except
        out["minio"] = str(exc)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", nargs="*", help="event names, in the order given, a name may repeat "
                        "(default: every event of --list but kill_pg_leader_host, in order)")
    parser.add_argument("--tiers", nargs="*", default=list(TIERS), help="tiers to load (default: all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--hold", type=float, default=40, help="seconds each break lasts at least (default 40)")
    parser.add_argument("--settle", type=float, default=10, help="seconds of steady load before each event")
    parser.add_argument("--rerun", action="store_true", help="end with a site.yml rerun (about 3 minutes)")
    parser.add_argument("--out", default="drill", help="name of the result under build/benchmarks/")
    args = parser.parse_args()
    if args.list:
        return print("\n".join(f"{e[0]}: {e[1]}" for e in EVENTS + EXTRA_EVENTS))
    by_name = {e[0]: e for e in EVENTS + EXTRA_EVENTS}
    unknown = [n for n in args.events or [] if n not in by_name]
    if unknown:
        sys.exit(f"unknown events {unknown}; --list shows them")
    events = [by_name[n] for n in args.events] if args.events else EVENTS
    if subprocess.run(["docker", "inspect", NODES[0]], capture_output=True, check=False).returncode != 0:
        sys.exit("no lab: run `make lab` first")
    addrs = {h: address(h) for h in NODES + (LB, lab.MON)}
    ctx = {"run": time.strftime("%Y%m%dT%H%M%S"), "addrs": addrs, "t0": time.time(), "passwords": openbao_secrets(addrs)}
    ctx["deadline"] = ctx["t0"] + MAX_SECONDS
    tiers = {}
    for name in args.tiers:
        tier = TIERS[name](ctx)
        tier.setup()
        tiers[name] = tier
    result = {"run": ctx["run"], "started": ctx["t0"], "settings": lab_settings(),
              "clients": {"postgresql": {k: v for k, v in PG_CLIENT.items() if k != "sslrootcert"}, "redis": dict(REDIS_CLIENT, ssl_ca_certs="lab CA",
                          retry="none (Retry(NoBackoff(), 0))", wait=f"WAIT 1 {REDIS_WAIT_MS}"),
                          "http": {"timeout": HTTP_TIMEOUT, "retries": 0, "keep_alive": True},
                          "minio": dict(MINIO_TIMEOUT, retries="next node, at most one try per node"),
                          "kafka": {k: v for k, v in KAFKA_CLIENT.items() if "ssl" not in k and "sasl" not in k}},
              "load": {n: {"interval_s": t.interval} for n, t in tiers.items()},
              "cpus": os.cpu_count(), "events": []}
    stop = threading.Event()
    alerts = Alerts(ctx)
    threads = [threading.Thread(target=t.run, args=(stop,), daemon=True) for t in tiers.values()]
    threads.append(threading.Thread(target=alerts.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        for event in events:
            result["events"].append(run_event(ctx, tiers, event, args.hold, args.settle))
        time.sleep(args.settle)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for tier in tiers.values():
            tier.finish()
        result["ended"] = round(time.time() - ctx["t0"], 2)
        result["tiers"] = {}
        for name, tier in tiers.items():
            lost = bounded(tier.verify, 240)
            result["tiers"][name] = {"acknowledged": len(tier.acked), "lost": lost, "errors": tier.errors,
                                     "samples": tier.samples, "ops": len(tier.samples),
                                     "failed": sum(1 for s in tier.samples if not s[2])}
            print(f"{name}: {len(tier.acked)} acknowledged, lost {lost if isinstance(lost, str) else len(lost)}", flush=True)
        result["alerts"] = list(alerts.seen.values())
        if args.rerun:
            result["rerun"] = site_rerun()
            print(f"site.yml rerun: rc {result['rerun']['rc']}, changed {result['rerun']['changed_total']}", flush=True)
        summary = {e["name"]: {n: o["recovered_s"] for n, o in e["tiers"].items()} for e in result["events"]}
        out = ROOT / "build" / "benchmarks" / f"{args.out}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result))
        print(f"written to {out}\n" + json.dumps(summary, indent=1))
    return None


if __name__ == "__main__":
    main()
