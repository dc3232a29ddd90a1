"""Fixtures and helpers of the vault scenario's tests (generic helpers: molecule/shared/gwtest.py).

The client is curl inside the test hosts, verifying TLS against the scenario's platform CA
(the copy the role put on each node); the init record is decrypted here, on the controller,
with ansible's own VaultLib and the scenario's password file.
"""
import json
import os
import pathlib
import shlex
import sys

import pytest
import testinfra
from ansible.parsing.vault import VaultLib, VaultSecret

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import ephemeral_directory, pytest_collection_modifyitems, pytest_configure, wait_for  # noqa: E402,F401

NODES = ("vault-1", "vault-2", "vault-3")
SECRETS = ephemeral_directory() / "secrets"
RECORD = SECRETS / "vault-init.vault"
# vault-static's own one-node cluster under the static auto-unseal
STATIC = "vault-static"
STATIC_RECORD = SECRETS / "vault-static-init.vault"
PASSWORD = SECRETS / "vault-init-password"


def host_of(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def record(path=RECORD):
    """The decrypted init record (a dict)."""
    vault = VaultLib([("default", VaultSecret(PASSWORD.read_bytes().strip()))])
    return json.loads(vault.decrypt(path.read_bytes()))


class Api:
    """The OpenBao HTTP API of one node, called with curl on that node."""

    def __init__(self, host, addr):
        self.host = host
        self.url = f"https://{addr}:8200"

    def call(self, method, path, token=None, body=None):
        """-> (HTTP status, parsed JSON body or None)."""
        cmd = ["curl", "-s", "--max-time", "20", "--cacert", "/etc/openbao/tls/ca.crt", "-o", "/tmp/api-out",
               "-w", "%{http_code}", "-X", method]
        if token:
            cmd += ["-H", f"X-Vault-Token: {token}"]
        if body is not None:
            cmd += ["--data", json.dumps(body)]
        out = self.host.run(shlex.join(cmd + [self.url + path]) + "; echo; cat /tmp/api-out; rm -f /tmp/api-out")
        status, _, text = out.stdout.partition("\n")
        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError:
            payload = {"raw": text}
        return int(status or 0), payload

    def login(self, role, token):
        """AppRole login for `role`, its role id and a new secret id fetched with `token`."""
        _, rid = self.call("GET", f"/v1/auth/approle/role/{role}/role-id", token)
        _, sid = self.call("POST", f"/v1/auth/approle/role/{role}/secret-id", token)
        status, out = self.call("POST", "/v1/auth/approle/login", body={
            "role_id": rid["data"]["role_id"], "secret_id": sid["data"]["secret_id"]})
        assert status == 200, out
        return out["auth"]["client_token"]

    def health(self):
        status, _ = self.call("GET", "/v1/sys/health")
        return status


@pytest.fixture(scope="session")
def hosts():
    return {n: host_of(n) for n in NODES}


@pytest.fixture(scope="session")
def api(hosts):
    return {n: Api(h, address(h)) for n, h in hosts.items()}


@pytest.fixture(scope="session")
def admin_token():
    return record()["admin_token"]
