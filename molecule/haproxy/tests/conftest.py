"""Helpers shared by the HAProxy scenario's tests."""
import os
import pathlib
import subprocess
import time
from collections import Counter

import pytest
import testinfra

EPHEMERAL = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
INVENTORY = str(pathlib.Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)
SCENARIO = pathlib.Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
SOCKET = "/run/haproxy/admin.sock"


def stats_password():
    return (EPHEMERAL / "haproxy_stats_password").read_text().split()[0]


def address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def runtime(host, command):
    out = host.run(f"echo '{command}' | socat -t 2 stdio UNIX-CONNECT:{SOCKET}")
    assert out.rc == 0, out.stderr
    return out.stdout


def server_status(host, backend, server):
    """(status, weight) of one server from `show stat`."""
    lines = runtime(host, "show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == backend and row.get("svname") == server:
            return row["status"], int(row["weight"] or 0)
    raise AssertionError(f"{backend}/{server} not in show stat")


def wait_status(host, backend, server, wanted, timeout=10.0):
    """Seconds until the server's status starts with `wanted`; fails after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server_status(host, backend, server)[0].startswith(wanted):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{backend}/{server} not {wanted} after {timeout}s: {server_status(host, backend, server)}")


def hits(host, url, count, curl_args=""):
    """Counter of response bodies for `count` sequential requests, each a new connection."""
    out = host.run(f"for i in $(seq {count}); do curl -s --max-time 5 {curl_args} '{url}'; echo; done")
    assert out.rc == 0, out.stderr
    return Counter(line.strip() for line in out.stdout.splitlines() if line.strip())


def wait_served(host, url, server, timeout=15.0):
    """Seconds until `server` answers one of 6 sequential requests; fails after timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server in hits(host, url, 6):
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"{server} got no request through {url} within {timeout}s")


def playbook(path, limit, *extra):
    """Run a playbook against the scenario's inventory; returns the CompletedProcess."""
    cmd = ["ansible-playbook", "-i", INVENTORY, "-l", limit, str(path)]
    for item in extra:
        cmd += ["-e", item]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def web():
    return testinfra.get_host("ansible://haproxy-web", ansible_inventory=INVENTORY)
