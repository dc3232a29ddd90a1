"""Helpers for the cluster scenario: run commands in the test hosts through docker (the
generic ones: molecule/shared/gwtest.py)."""
import json
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import playbook, pytest_collection_modifyitems, pytest_configure, secret, wait_for  # noqa: E402,F401

NODES = ["pgc-1", "pgc-2", "pgc-3"]
SCENARIO = pathlib.Path(__file__).resolve().parents[1]
# what a member that is restarting answers meanwhile (its psql or patronictl failing, or hanging)
TRANSIENT = (AssertionError, subprocess.TimeoutExpired)


def sh(node, cmd, timeout=120):
    """Run a shell command in a test host; returns CompletedProcess."""
    return subprocess.run(["docker", "exec", node, "sh", "-c", cmd], capture_output=True, text=True, timeout=timeout, check=False)


def members(node=None):
    """Patroni's view of the cluster, from the first node that answers."""
    for n in ([node] if node else NODES):
        out = sh(n, "patronictl -c /etc/patroni/config.yml list -f json", timeout=30)
        if out.returncode == 0:
            return json.loads(out.stdout)
    raise AssertionError("no member answers patronictl")


def leader(node=None):
    return [m["Member"] for m in members(node) if m["Role"] == "Leader"]


def local_sql(node, query, db="postgres"):
    out = sh(node, f"runuser -u postgres -- psql -X -At -d {db} -c \"{query}\"")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def app_sql(node, query, port=5432, hosts=None, timeout=30):
    """Query as the app user through the libpq multi-host endpoint (primary only)."""
    hosts = hosts or ",".join(NODES)
    dsn = f"host={hosts} port={port} dbname=appdb user=app target_session_attrs=read-write connect_timeout=3"
    return sh(node, f"PGPASSWORD='{secret('app')}' psql -X -At '{dsn}' -c \"{query}\"", timeout=timeout)


ETCD_TLS = "--cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/server.crt --key=/etc/etcd/tls/server.key"


def etcdctl(node, args, timeout=30):
    """etcdctl on a member's loopback listener with the member's own certificate."""
    return sh(node, f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --dial-timeout=3s --command-timeout=5s "
                    f"{ETCD_TLS} {args}", timeout=timeout)


def etcd_members(node):
    out = etcdctl(node, "member list -w json")
    assert out.returncode == 0, out.stderr
    return {m["ID"]: m["name"] for m in json.loads(out.stdout)["members"]}


def etcd_leader(nodes=None):
    """The name of etcd's leader, as the first member that answers sees it."""
    for n in nodes or NODES:
        out = etcdctl(n, "endpoint status -w json")
        if out.returncode == 0:
            return etcd_members(n)[json.loads(out.stdout)[0]["Status"]["leader"]]
    raise AssertionError("no etcd member answers")


def move_etcd_leader(to):
    """Hand etcd's leadership to the member `to` (asked of the current leader)."""
    ids = {name: mid for mid, name in etcd_members(to).items()}
    out = etcdctl(etcd_leader(), f"move-leader {ids[to]:x}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert etcd_leader() == to


def mover_journal(node, since):
    """What the etcd leader mover (hook and timer) logged on a node since a journalctl time."""
    return sh(node, f"journalctl -q -o cat -t patroni-etcd-leader-away --since '{since}'").stdout


def converge():
    return playbook(SCENARIO / "converge.yml", timeout=1800)


@pytest.fixture(scope="session")
def nodes():
    return NODES
