"""The phase tags (docs/tags.md): the scenario's converge rerun with --tags haproxy_configure
runs the configuration tasks only, changes nothing on a converged host, and applies a changed
configuration value. Phase 2: after the operations tests, which reload and reconfigure."""
import ipaddress

import pytest

from conftest import SCENARIO, playbook, runtime
from gwtest import recap

testinfra_hosts = ["ansible://haproxy-lb"]
pytestmark = pytest.mark.phase(2)

INSTALL_TASK = "Install HAProxy and the tools the role uses"
CONFIGURE_TASK = "Write the configuration (checked with haproxy -c first)"


def _configure(*extra, limit=None):
    run = playbook(SCENARIO / "converge.yml", "--tags", "haproxy_configure", *extra, limit=limit)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run


def _maxconn(host):
    info = runtime(host, "show info")
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Maxconn:"))


def test_configure_tag_alone_changes_nothing_and_installs_nothing():
    run = _configure()
    assert CONFIGURE_TASK in run.stdout
    assert INSTALL_TASK not in run.stdout
    assert "Start HAProxy" not in run.stdout  # a run-phase task
    hosts = recap(run.stdout)
    assert {"haproxy-lb", "haproxy-lb-bookworm"} <= set(hosts), run.stdout[-2000:]
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in hosts.values()), hosts


def test_configure_tag_applies_a_changed_value(host):
    before = host.file("/etc/haproxy/haproxy.cfg").sha256sum
    try:
        run = _configure("-e", "haproxy_maxconn=4321")
        assert recap(run.stdout)["haproxy-lb"]["changed"] >= 1
        assert INSTALL_TASK not in run.stdout
        assert "    maxconn 4321" in host.file("/etc/haproxy/haproxy.cfg").content_string
        # the reload handler ran: the worker answering on the runtime socket has the new limit
        assert _maxconn(host) == "4321"
    finally:
        _configure()
    assert host.file("/etc/haproxy/haproxy.cfg").sha256sum == before
    assert _maxconn(host) != "4321"


def _servers(cfg, backend):
    """The `server` lines' addresses in one backend section of haproxy.cfg."""
    out, inside = [], False
    for line in cfg.splitlines():
        if line.startswith("backend "):
            inside = line.split()[1] == backend
        elif inside and line.strip().startswith("server "):
            out.append(line.split()[2].rsplit(":", 1)[0])
    return out


def test_limit_keeps_the_addresses_of_hosts_outside_it(host):
    """be_group's servers come from the webservers group (haproxy-web); a run with --limit
    haproxy-lb has no facts of haproxy-web but its own play's (facts_outside_limit.yml): the
    server keeps its address, and the run changes nothing."""
    cfg = host.file("/etc/haproxy/haproxy.cfg")
    before = cfg.sha256sum
    servers = _servers(cfg.content_string, "be_group")
    assert servers and all(ipaddress.ip_address(a) for a in servers), servers
    run = _configure(limit="haproxy-lb")
    assert "Gather the network facts of the hosts outside --limit" in run.stdout
    assert recap(run.stdout)["haproxy-lb"]["changed"] == 0, run.stdout[-3000:]
    assert cfg.sha256sum == before
