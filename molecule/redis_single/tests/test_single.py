"""Single-node groups: Valkey (session profile) on trixie, Redis (cache profile, TLS) on bookworm.

Each is used with real clients: redis-cli inside the host, redis-py (with Sentinel discovery,
over TLS for the TLS host) from the controller.
"""
import os
import pathlib
import re
import shlex
import subprocess
import uuid

import pytest
import redis
from redis.sentinel import Sentinel

testinfra_hosts = ["ansible://all"]

EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
TLS_HOST = "redis-single-tls"
FLAVOR = {"redis-single-valkey": "valkey", TLS_HOST: "redis"}
GROUP = {"redis-single-valkey": "single_valkey", TLS_HOST: "single_redis"}


def _secret(name):
    return (EPHEMERAL / "secrets" / name).read_text(encoding="utf-8").strip()


def _name(host):
    return host.backend.get_hostname()


def _address(name):
    out = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def _tls(name):
    return {"ssl": True, "ssl_ca_certs": str(EPHEMERAL / "tls" / "ca.crt")} if name == TLS_HOST else {}


def _cli(host, *args, user="admin", password=None, port=6379, tls=None):
    name = _name(host)
    flavor = FLAVOR[name]
    password = password if password is not None else _secret(f"redis_{user}_password")
    tls = (name == TLS_HOST) if tls is None else tls
    parts = [f"REDISCLI_AUTH={shlex.quote(password)}" if password else "", "timeout 10", f"{flavor}-cli",
             "--no-auth-warning", f"--tls --cacert /etc/{flavor}/tls/ca.crt" if tls else "",
             f"--user {user}" if user else "", f"-h {_address(name)} -p {port}"]
    return host.run(" ".join(p for p in parts if p) + " " + " ".join(shlex.quote(str(a)) for a in args))


def _client(name, user="app"):
    return redis.Redis(host=_address(name), port=6379, username=user, password=_secret(f"redis_{user}_password"),
                       socket_timeout=3, socket_connect_timeout=3, decode_responses=True, **_tls(name))


def test_the_chosen_server_runs(host):
    flavor = FLAVOR[_name(host)]
    for unit in (f"{flavor}-server", f"{flavor}-sentinel", "prometheus-redis-exporter"):
        assert host.service(unit).is_running and host.service(unit).is_enabled, unit
    info = _client(_name(host), user="admin").info("server")
    if flavor == "valkey":
        assert info.get("server_name") == "valkey" or "valkey_version" in info, info
        assert host.package("valkey-server").is_installed and not host.package("redis-server").is_installed
    else:
        assert "valkey_version" not in info and host.package("redis-server").is_installed


def test_profile_settings(host):
    admin = _client(_name(host), user="admin")
    conf = admin.config_get("*")
    if _name(host) == TLS_HOST:  # cache
        assert conf["maxmemory-policy"] == "allkeys-lru"
        assert conf["appendonly"] == "no" and conf["save"] == ""
        assert conf["maxmemory"] == str(256 * 1024 * 1024)
    else:  # session
        assert conf["maxmemory-policy"] == "volatile-lru"
        assert conf["appendonly"] == "yes" and conf["appendfsync"] == "everysec"
    assert conf["min-replicas-to-write"] == "0"  # a single node has no replica to wait for


def test_a_real_client_writes_and_reads(host):
    app = _client(_name(host))
    key = f"session:{uuid.uuid4()}"
    assert app.set(key, "alice", ex=600)
    assert app.get(key) == "alice" and 0 < app.ttl(key) <= 600
    with pytest.raises(redis.exceptions.NoPermissionError):
        app.flushall()


def test_default_user_is_refused(host):
    out = _cli(host, "PING", user=None, password="")
    assert "NOAUTH" in out.stdout + out.stderr


def test_sentinel_finds_the_primary(host):
    name = _name(host)
    kwargs = {"password": _secret("redis_sentinel_password"), "socket_timeout": 3, **_tls(name)}
    s = Sentinel([(_address(name), 26379)], sentinel_kwargs=kwargs, username="app",
                 password=_secret("redis_app_password"), socket_timeout=3, decode_responses=True, **_tls(name))
    assert s.discover_master(GROUP[name]) == (_address(name), 6379)
    master = s.master_for(GROUP[name])
    assert master.set("through-sentinel", "1") and master.get("through-sentinel") == "1"
    assert _cli(host, "SENTINEL", "CKQUORUM", GROUP[name], user=None, password=_secret("redis_sentinel_password"),
                port=26379).stdout.startswith("OK 1 usable Sentinels")


def test_tls_only_on_the_tls_host(host):
    name = _name(host)
    plain = _cli(host, "PING", tls=False)
    if name == TLS_HOST:
        assert "PONG" not in plain.stdout
        assert _cli(host, "PING").stdout.strip() == "PONG"
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis(host=_address(name), port=6379, username="app", password=_secret("redis_app_password"),
                        socket_timeout=3).ping()
        handshake = host.run(f"timeout 5 openssl s_client -connect {_address(name)}:26379 </dev/null 2>&1")
        assert "BEGIN CERTIFICATE" in handshake.stdout or "Verify return code" in handshake.stdout
    else:
        assert plain.stdout.strip() == "PONG"


def test_exporter_sees_the_server(host):
    name = _name(host)
    body = host.run(f"curl -fsS --max-time 5 http://{_address(name)}:9121/metrics").stdout
    assert "\nredis_up 1" in body
    assert re.search(r'^redis_connected_clients \d+', body, re.M)
