"""On the lab (`make lab`), by hand: every Patroni member can open the replication connection to
its own PostgreSQL over the loopback that Patroni uses to read the member's timeline before it
decides whether a returning old primary needs pg_rewind (`make drill` found a cut-off leader that
never rejoined without it).

    .venv/bin/python -m pytest -p no:cacheprovider -v tests/lab/test_patroni_local_replication.py
"""
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODES = ("lab-node1", "lab-node2", "lab-node3")


def dexec(node, script, env=None):
    cmd = ["docker", "exec"] + [f"-e{k}={v}" for k, v in (env or {}).items()] + [node, "sh", "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("node", NODES)
def test_replication_connection_over_the_loopback(node):
    password = (ROOT / "build" / "lab-secrets" / "postgresql_replication_password").read_text().strip()
    out = dexec(node, "psql 'host=127.0.0.1 port=5432 user=replicator dbname=postgres replication=database' -XAt -c IDENTIFY_SYSTEM",
                env={"PGPASSWORD": password})
    assert out.returncode == 0, out.stderr
    timeline = out.stdout.strip().split("|")[1]
    assert int(timeline) >= 1, out.stdout


@pytest.mark.parametrize("node", NODES)
def test_patroni_reads_the_local_timeline(node):
    out = dexec(node, "journalctl -u patroni --since -2min --no-pager -o cat")
    assert out.returncode == 0 and out.stdout, out.stderr
    assert "Can not fetch local timeline" not in out.stdout
