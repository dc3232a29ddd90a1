"""Helpers for the redis scenario's tests: secrets, container addresses, real clients.

The controller reaches the containers' addresses on the scenario's docker network, so the
cluster-level tests use redis-py (with Sentinel discovery) from here; the per-host tests run
redis-cli inside each container.
"""
import functools
import subprocess
import time

import gwtest
import redis
from gwtest import secret  # noqa: F401 (the tests import it from here)
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

NODES = ("redis-1", "redis-2", "redis-3")
MASTER_NAME = "redis"
REDIS_PORT = 6379
SENTINEL_PORT = 26379


def container_address(name):
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        capture_output=True, text=True, check=True, timeout=30,
    )
    return out.stdout.strip()


def node_addresses():
    """Inventory name -> address (a stopped container has none: read them while all run)."""
    found = {n: container_address(n) for n in NODES}
    assert all(found.values()), found
    return found


def node_client(address, user="admin", password=None):
    return redis.Redis(
        host=address, port=REDIS_PORT, username=user,
        password=password or secret("redis_admin_password" if user == "admin" else f"redis_{user}_password"),
        socket_timeout=2, socket_connect_timeout=2, decode_responses=True,
    )


def sentinel(addresses):
    """A Sentinel-aware client factory, as an application would use it (user app).

    redis-py retries failed connections itself, with a backoff of up to seconds; that is
    switched off here (the callers poll every 50 ms) so that a failover is timed by the
    platform, not by the client's backoff.
    """
    no_retry = {"retry": Retry(NoBackoff(), 0), "socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    return Sentinel(
        [(a, SENTINEL_PORT) for a in addresses.values()],
        sentinel_kwargs={"password": secret("redis_sentinel_password"), **no_retry},
        username="app", password=secret("redis_app_password"), decode_responses=True, **no_retry,
    )


def primary_name(addresses):
    ip, _port = sentinel(addresses).discover_master(MASTER_NAME)
    names = [n for n, a in addresses.items() if a == ip]
    assert names, f"Sentinel names {ip} as primary, which is no node of the scenario"
    return names[0]


# gwtest.wait_for, where a refused or dropped connection (a node restarting, a failover under
# way) counts as "not yet"
wait_for = functools.partial(gwtest.wait_for, ignore=(redis.RedisError, OSError))


_TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError)


def acked_writer(master, stop, acked, attempts, prefix="ack"):
    """Writes keys through the Sentinel-aware client; a key counts once WAIT 1 acknowledged it."""
    i = 0
    deadline = time.monotonic() + 180
    while not stop.is_set() and time.monotonic() < deadline:
        key = f"{prefix}:{i}"
        i += 1
        attempts.append(key)
        try:
            pipe = master.pipeline(transaction=False)
            pipe.set(key, i)
            pipe.execute_command("WAIT", 1, 500)
            _ok, replicas = pipe.execute()
            if replicas >= 1:
                acked.append(key)
        except _TRANSIENT:
            time.sleep(0.02)
