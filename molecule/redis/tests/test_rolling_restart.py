"""playbooks/redis_rolling_restart.yml, gated by the failover_check module: it refuses to
start while a member is down, and on a whole group restarts every node, replicas first, hands
the primary role over through Sentinel, and keeps every acknowledged write. Destructive:
phase 1, after the steady-state checks and before the failover."""
import pathlib
import subprocess
import threading

import pytest

from gwtest import playbook
from redis_helpers import MASTER_NAME, NODES, acked_writer, node_client, primary_name, sentinel, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.phase(1)


def _playbook():
    return playbook(ROOT / "playbooks" / "redis_rolling_restart.yml")


def _run_ids(addresses):
    return {n: node_client(a).info("server")["run_id"] for n, a in addresses.items()}


def _whole(addresses):
    primary = primary_name(addresses)
    info = node_client(addresses[primary]).info("replication")
    return info["connected_slaves"] == len(NODES) - 1 and all(
        info[f"slave{i}"]["state"] == "online" for i in range(len(NODES) - 1))


def test_gate_refuses_to_start_with_a_member_down(addresses):
    wait_for(lambda: _whole(addresses), 120, 1, "a whole group")
    replica = next(n for n in NODES if n != primary_name(addresses))
    before = _run_ids(addresses)
    subprocess.run(["docker", "exec", replica, "systemctl", "stop", "redis-server"], check=True, timeout=60)
    try:
        run = _playbook()
        out = run.stdout + run.stderr
        assert run.returncode != 0, out[-3000:]
        assert "Gate before the rolling restart" in out and "member_missing" in out, out[-3000:]
        assert "Restart redis-" not in out, "a node was restarted although the gate failed"
        others = {n: i for n, i in _run_ids({n: a for n, a in addresses.items() if n != replica}).items()}
        assert others == {n: before[n] for n in others}
    finally:
        subprocess.run(["docker", "exec", replica, "systemctl", "start", "redis-server"], check=True, timeout=60)
    wait_for(lambda: _whole(addresses), 120, 1, f"{replica} back in the group")


def test_rolling_restart_restarts_every_node_and_hands_the_primary_over(addresses):
    old_primary = primary_name(addresses)
    before = _run_ids(addresses)
    stop, acked, attempts = threading.Event(), [], []
    writer = threading.Thread(target=acked_writer, args=(sentinel(addresses).master_for(MASTER_NAME), stop, acked, attempts),
                              kwargs={"prefix": "rolling"}, daemon=True)
    writer.start()
    try:
        wait_for(lambda: len(acked) >= 100, 120, 0.1, "100 acknowledged writes before the restart")
        run = _playbook()
    finally:
        stop.set()
        writer.join(10)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    # every node was restarted, the primary last, after Sentinel handed its role over
    after = _run_ids(addresses)
    assert all(after[n] != before[n] for n in NODES), (before, after)
    restarts = [line for line in run.stdout.splitlines() if line.startswith("TASK [groundwork.platform.redis : Restart the server on")]
    assert len(restarts) == len(NODES) and old_primary in restarts[-1], restarts
    assert "Gate after the planned failover" in run.stdout
    new_primary = primary_name(addresses)
    assert new_primary != old_primary
    wait_for(lambda: _whole(addresses), 120, 1, "a whole group after the restart")
    assert node_client(addresses[old_primary]).execute_command("ROLE")[0] == "slave"
    # every write acknowledged by a replica (WAIT 1) during the restart is still there
    admin = node_client(addresses[new_primary])
    missing = []
    for start in range(0, len(acked), 500):
        batch = acked[start:start + 500]
        missing += [k for k, v in zip(batch, admin.execute_command("MGET", *batch)) if v is None]
    assert acked and not missing, f"{len(missing)} of {len(acked)} acknowledged writes lost"
