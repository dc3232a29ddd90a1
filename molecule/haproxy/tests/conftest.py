"""Helpers shared by the HAProxy scenario's tests (the generic ones: molecule/shared/gwtest.py)."""
import pathlib
import sys
import time
from collections import Counter

import pytest
import testinfra

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import inventory, playbook, pytest_collection_modifyitems, pytest_configure, secret, wait_for  # noqa: E402,F401

INVENTORY = inventory()
SCENARIO = pathlib.Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
SOCKET = "/run/haproxy/admin.sock"
# The servers on the nginx backends (be1-be3), which the operations tests stop, drain and
# disable: every backend that has them, as converged.
_NGINX = ("be1", "be2", "be3")
SERVERS = {"be_rr": _NGINX, "be_static": _NGINX, "be_source": _NGINX, "be_uri": _NGINX, "be_tcp": _NGINX,
           "be_backup": ("be1", "be2")}


def stats_password():
    return secret("haproxy_stats_password")


def address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def runtime(host, command):
    out = host.run(f"echo '{command}' | socat -t 2 stdio UNIX-CONNECT:{SOCKET}")
    assert out.rc == 0, out.stderr
    return out.stdout


def _stat_rows(text):
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def server_status(host, backend, server):
    """(status, weight) of one server from `show stat`."""
    for row in _stat_rows(runtime(host, "show stat")):
        if row.get("pxname") == backend and row.get("svname") == server:
            return row["status"], int(row["weight"] or 0)
    raise AssertionError(f"{backend}/{server} not in show stat")


def wait_status(host, backend, server, wanted, timeout=60.0, exact=False, since=None):
    """Wait until the server's status starts with (or, exact, is) `wanted`; fails after timeout.

    Returns the seconds from `since` (a time.time() value, the clock the containers share with
    the controller; default: this call) to the status change as HAProxy recorded it (its
    `lastchg`, whole seconds, rounds this up by less than a second). The poll runs on the host
    itself, every 0.1 s, so the figure does not depend on how long the controller takes to
    reach the host on a loaded machine.
    """
    since = time.time() if since is None else since
    match = f'"{wanted}"' if exact else f'"{wanted}"*'
    script = (
        f"end=$(( $(date +%s) + {int(timeout)} )); "
        "while :; do now=$(date +%s.%N); "
        f"stat=$(echo 'show stat' | socat -t 2 stdio UNIX-CONNECT:{SOCKET} | grep -E '^# pxname|^{backend},{server},'); "
        f"status=$(echo \"$stat\" | awk -F, 'NR == 1 {{for (i = 1; i <= NF; i++) if ($i == \"status\") c = i; next}} {{print $c}}'); "
        f"case \"$status\" in {match}) echo \"$now\"; echo \"$stat\"; exit 0;; esac; "
        "if [ $(date +%s) -ge $end ]; then echo \"$stat\"; exit 1; fi; sleep 0.1; done"
    )
    out = host.run(script)
    if out.rc != 0:
        raise AssertionError(f"{backend}/{server} not {'exactly ' if exact else ''}{wanted} within {timeout}s: "
                             f"{out.stdout.strip()} {out.stderr.strip()}")
    observed, stat = out.stdout.split("\n", 1)
    row = [r for r in _stat_rows(stat) if r.get("pxname") == backend and r.get("svname") == server][0]
    return float(observed) - int(row["lastchg"] or 0) - since


def wait_all_up(host, servers=None, timeout=120.0):
    """Every server of `servers` ({backend: names}, default SERVERS) is exactly UP, in one poll."""
    servers = SERVERS if servers is None else servers

    def not_up():
        rows = _stat_rows(runtime(host, "show stat"))
        status = {(r.get("pxname"), r.get("svname")): r.get("status") for r in rows}
        return {f"{b}/{s}": status.get((b, s)) for b, names in servers.items() for s in names if status.get((b, s)) != "UP"}

    wait_for(lambda: not not_up(), timeout, 1.0, "every server UP", detail=not_up)


def hits(host, url, count, curl_args=""):
    """Counter of response bodies for `count` sequential requests, each a new connection."""
    out = host.run(f"for i in $(seq {count}); do curl -s --max-time 5 {curl_args} '{url}'; echo; done")
    assert out.rc == 0, out.stderr
    return Counter(line.strip() for line in out.stdout.splitlines() if line.strip())


def wait_served(host, url, server, timeout=60.0):
    """Wait until `server` answers one of 6 sequential requests; fails after timeout."""
    wait_for(lambda: server in hits(host, url, 6), timeout, 0.5, f"a request through {url} served by {server}")


@pytest.fixture(scope="module")
def web():
    return testinfra.get_host("ansible://haproxy-web", ansible_inventory=INVENTORY)


@pytest.fixture
def servers_ready(host, web):
    """A known state before a test: the nginx backends run, and every server of SERVERS is back
    in normal mode (a runtime drain or maintenance cleared) and UP by its health checks."""
    out = web.run("systemctl start " + " ".join(f"nginx-be@be{n}" for n in (1, 2, 3)))
    assert out.rc == 0, out.stderr
    runtime(host, "; ".join(f"set server {b}/{s} state ready" for b, names in SERVERS.items() for s in names))
    wait_all_up(host)
