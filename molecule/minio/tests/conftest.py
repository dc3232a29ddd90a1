"""Fixtures and helpers of the minio scenario's tests.

The clients are mc inside the test hosts (the binary the role installed) with their own
configuration directory, so TLS is verified against the scenario's platform CA (copied
from the controller), not against the role's mc setup.
"""
import json
import os
import pathlib
import sys

import pytest
import testinfra

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import ephemeral_directory, pytest_collection_modifyitems, pytest_configure, secret, wait_for  # noqa: E402,F401

EPHEMERAL = ephemeral_directory()
NODES = ("minio-1", "minio-2")
ROOT_USER = "groundwork-admin"
CLIENT_DIR = "/root/mc-test"


def host_of(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


class Client:
    """mc on one test host, talking to one node as one user."""

    def __init__(self, host, node_address, user, password, config_dir=CLIENT_DIR):
        self.host = host
        self.env = f"MC_HOST_s3='https://{user}:{password}@{node_address}:9000'"
        self.config_dir = config_dir

    def run(self, *args, stdin=None):
        cmd = f"{self.env} mc --config-dir {self.config_dir} --json --quiet " + " ".join(args)
        if stdin is not None:
            cmd = f"{stdin} | {cmd}"
        return self.host.run(cmd)

    def json(self, *args):
        out = self.run(*args)
        assert out.rc == 0, out.stdout + out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def status(host, node_address, path):
    out = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 --cacert {CLIENT_DIR}/certs/CAs/ca.crt "
                   f"https://{node_address}:9000{path}")
    return out.stdout.strip()


@pytest.fixture(scope="session")
def hosts():
    found = {n: host_of(n) for n in NODES}
    ca = (EPHEMERAL / "ca" / "ca.crt").read_text(encoding="utf-8")
    for h in found.values():
        h.run(f"mkdir -p {CLIENT_DIR}/certs/CAs && cat > {CLIENT_DIR}/certs/CAs/ca.crt <<'PEM'\n{ca}\nPEM")
        assert h.run("command -v curl").rc == 0
    return found


@pytest.fixture(scope="session")
def addresses(hosts):
    return {n: address(h) for n, h in hosts.items()}


@pytest.fixture(scope="session")
def root_clients(hosts, addresses):
    """node name -> a root client on minio-1 that talks to that node."""
    pw = secret("minio_root_password")
    return {n: Client(hosts["minio-1"], addresses[n], ROOT_USER, pw) for n in NODES}
