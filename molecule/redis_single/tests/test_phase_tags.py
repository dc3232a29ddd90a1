"""The phase tags (docs/tags.md): the scenario's converge rerun with --tags redis_configure runs
the configuration tasks only, changes nothing on a converged host, and applies a changed setting
(through the role's restart of the changed node). Phase 2: after the check-mode test."""
import os
import pathlib
import re
import subprocess

import pytest
import redis
from gwtest import playbook, recap, secret, wait_for

pytestmark = pytest.mark.phase(2)

SCENARIO = pathlib.Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", pathlib.Path(__file__).resolve().parents[1]))
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
TLS_HOST = "redis-single-tls"
INSTALL_TASK = re.compile(r"TASK \[[^\]]*: Install (redis|valkey)\]")


def _configure(*extra, limit=None):
    run = playbook(SCENARIO / "converge.yml", "--tags", "redis_configure", *extra, limit=limit)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run


def _maxmemory():
    """maxmemory of the TLS host's server, asked over TLS as admin from the controller."""
    address = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", TLS_HOST],
                             capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    admin = redis.Redis(host=address, port=6379, username="admin", password=secret("redis_admin_password"),
                        socket_timeout=3, socket_connect_timeout=3, decode_responses=True,
                        ssl=True, ssl_ca_certs=str(EPHEMERAL / "tls" / "ca.crt"))
    return wait_for(lambda: admin.config_get("maxmemory")["maxmemory"], 30, 1.0, "the server answers",
                    ignore=(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError))


def test_configure_tag_alone_changes_nothing_and_installs_nothing():
    run = _configure()
    assert "Write the settings" in run.stdout
    assert not INSTALL_TASK.search(run.stdout), run.stdout[-3000:]
    assert "Create streams" not in run.stdout and "Start prometheus-redis-exporter" not in run.stdout
    hosts = recap(run.stdout)
    assert {"redis-single-valkey", TLS_HOST} <= set(hosts), run.stdout[-2000:]
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in hosts.values()), hosts


def test_configure_tag_applies_a_changed_setting():
    assert _maxmemory() == str(256 * 1024 * 1024)
    try:
        run = _configure("-e", "redis_maxmemory=300mb", limit=TLS_HOST)
        assert recap(run.stdout)[TLS_HOST]["changed"] >= 1
        assert not INSTALL_TASK.search(run.stdout)
        assert f"Restart the server on {TLS_HOST}" in run.stdout  # the role's own restart, one node at a time
        assert _maxmemory() == str(300 * 1024 * 1024)
    finally:
        _configure(limit=TLS_HOST)
    assert _maxmemory() == str(256 * 1024 * 1024)
