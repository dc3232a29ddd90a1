"""Helpers for the etcd scenario (the generic ones: molecule/shared/gwtest.py)."""
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import playbook, pytest_collection_modifyitems, pytest_configure, wait_for  # noqa: E402,F401

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
TLS = "--cacert=/etc/etcd/tls/ca.crt --cert=/etc/etcd/tls/server.crt --key=/etc/etcd/tls/server.key"


def sh(node, cmd, timeout=120):
    """Run a shell command in a test host; returns CompletedProcess."""
    return subprocess.run(["docker", "exec", node, "sh", "-c", cmd], capture_output=True, text=True, timeout=timeout, check=False)


def etcdctl(node, args, timeout=60):
    """etcdctl on `node` against its own member (loopback, TLS with the member's certificate)."""
    return sh(node, f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 {TLS} --command-timeout=10s {args}", timeout=timeout)


def members(node="etcd-1"):
    """The cluster's members as `node` lists them: {name: {"id": hex, "peer": url, "started": bool}}."""
    out = etcdctl(node, "member list -w json")
    assert out.returncode == 0, out.stderr
    found = {}
    for m in json.loads(out.stdout)["members"]:
        found[m.get("name", "")] = {"id": f"{m['ID']:x}", "peer": m["peerURLs"][0], "started": bool(m.get("clientURLs"))}
    return found


def healthy(node="etcd-1"):
    """How many members answer `endpoint health --cluster`."""
    out = etcdctl(node, "endpoint health --cluster")
    return (out.stdout + out.stderr).count(" is healthy")
