"""Helpers for the cluster scenario: run commands in the test hosts through docker."""
import json
import os
import pathlib
import subprocess
import time

import pytest

NODES = ["pgc-1", "pgc-2", "pgc-3"]
SECRETS = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
SCENARIO = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def secret(name):
    return (SECRETS / name).read_text().split()[0]


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


def wait_for(predicate, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def converge():
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    inv = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    return subprocess.run(["ansible-playbook", "-i", inv, str(SCENARIO / "converge.yml")],
                          env=env, capture_output=True, text=True, timeout=1800, check=False)


def playbook(path, *extra):
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    inv = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    return subprocess.run(["ansible-playbook", "-i", inv, str(path), *extra],
                          env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="session")
def nodes():
    return NODES
