"""The three nodes as one replicated group, used from the controller with real clients."""
import uuid

import pytest
import redis

from redis_helpers import MASTER_NAME, node_client, primary_name, secret, sentinel, wait_for


def test_one_primary_and_two_replicas(addresses):
    roles = {n: node_client(a).execute_command("ROLE") for n, a in addresses.items()}
    primaries = [n for n, r in roles.items() if r[0] == "master"]
    assert len(primaries) == 1, roles
    primary = primaries[0]
    assert sorted(r[0] for r in roles[primary][2]) == sorted(a for n, a in addresses.items() if n != primary)
    for n, r in roles.items():
        if n != primary:
            assert r[0] == "slave" and r[1] == addresses[primary] and r[3] == "connected", (n, r)
    assert primary_name(addresses) == primary


def test_data_written_to_the_primary_is_read_from_the_replicas(addresses):
    primary = primary_name(addresses)
    key, value = f"repl:{uuid.uuid4()}", uuid.uuid4().hex
    app = node_client(addresses[primary], user="app")
    assert app.set(key, value)
    for name, addr in addresses.items():
        if name == primary:
            continue
        replica = node_client(addr, user="app")
        wait_for(lambda replica=replica: replica.get(key) == value, 60, 0.2, f"{key} on {name}")


def test_replicas_refuse_writes(addresses):
    primary = primary_name(addresses)
    for name, addr in addresses.items():
        if name != primary:
            with pytest.raises(redis.exceptions.ReadOnlyError):
                node_client(addr, user="app").set("nope", "1")


def test_sentinel_aware_client_writes_and_reads(addresses):
    s = sentinel(addresses)
    master = s.master_for(MASTER_NAME)
    key = f"sentinel:{uuid.uuid4()}"
    assert master.set(key, "1")
    # WAIT: at least one replica acknowledged the write (within 10 s: the machine may be loaded)
    assert master.execute_command("WAIT", 1, 10000) >= 1
    replica = s.slave_for(MASTER_NAME)
    wait_for(lambda: replica.get(key) == "1", 60, 0.2, "read through a Sentinel-chosen replica")


def test_stream_consumer_group_delivers_frames(addresses):
    s = sentinel(addresses)
    master = s.master_for(MASTER_NAME)
    groups = [g["name"] for g in master.xinfo_groups("camera-frames")]
    assert "processors" in groups
    entry = master.xadd("camera-frames", {"camera": "cam-7", "frame": "42"})
    got = master.xreadgroup("processors", "worker-1", {"camera-frames": ">"}, count=100)
    ids = [i for _stream, entries in got for i, _fields in entries]
    assert entry in ids
    assert master.xack("camera-frames", "processors", *ids) == len(ids)


def test_the_exporter_user_cannot_write(addresses):
    primary = primary_name(addresses)
    exporter = node_client(addresses[primary], user="exporter", password=secret("redis_exporter_password"))
    assert exporter.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        exporter.set("x", "1")
