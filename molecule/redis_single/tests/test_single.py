"""Single-node groups: Valkey (session profile) on trixie, Redis (cache profile, TLS) on bookworm.

Each is used with real clients: redis-cli inside the host, redis-py (with Sentinel discovery,
over TLS for the TLS host) from the controller.
"""
import os
import pathlib
import re
import shlex
import socket
import ssl
import subprocess
import uuid

import pytest
import redis
import testinfra
from gwtest import playbook, secret, started
from redis.sentinel import Sentinel

testinfra_hosts = ["ansible://all"]

EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
TLS_HOST = "redis-single-tls"
FLAVOR = {"redis-single-valkey": "valkey", TLS_HOST: "redis"}
GROUP = {"redis-single-valkey": "single_valkey", TLS_HOST: "single_redis"}


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
    password = password if password is not None else secret(f"redis_{user}_password")
    tls = (name == TLS_HOST) if tls is None else tls
    parts = [f"REDISCLI_AUTH={shlex.quote(password)}" if password else "", "timeout 10", f"{flavor}-cli",
             "--no-auth-warning", f"--tls --cacert /etc/{flavor}/tls/ca.crt" if tls else "",
             f"--user {user}" if user else "", f"-h {_address(name)} -p {port}"]
    return host.run(" ".join(p for p in parts if p) + " " + " ".join(shlex.quote(str(a)) for a in args))


def _client(name, user="app"):
    return redis.Redis(host=_address(name), port=6379, username=user, password=secret(f"redis_{user}_password"),
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
    kwargs = {"password": secret("redis_sentinel_password"), "socket_timeout": 3, **_tls(name)}
    s = Sentinel([(_address(name), 26379)], sentinel_kwargs=kwargs, username="app",
                 password=secret("redis_app_password"), socket_timeout=3, decode_responses=True, **_tls(name))
    assert s.discover_master(GROUP[name]) == (_address(name), 6379)
    master = s.master_for(GROUP[name])
    assert master.set("through-sentinel", "1") and master.get("through-sentinel") == "1"
    assert _cli(host, "SENTINEL", "CKQUORUM", GROUP[name], user=None, password=secret("redis_sentinel_password"),
                port=26379).stdout.startswith("OK 1 usable Sentinels")


def test_tls_only_on_the_tls_host(host):
    name = _name(host)
    plain = _cli(host, "PING", tls=False)
    if name == TLS_HOST:
        assert "PONG" not in plain.stdout
        assert _cli(host, "PING").stdout.strip() == "PONG"
        with pytest.raises(redis.exceptions.ConnectionError):
            redis.Redis(host=_address(name), port=6379, username="app", password=secret("redis_app_password"),
                        socket_timeout=3).ping()
    else:
        assert plain.stdout.strip() == "PONG"


# --- TLS: a verified handshake, the deployed certificate, a command over it ----------------------
TLS_DIR = "/etc/redis/tls"  # the role's <config dir>/tls for the redis flavour (redis_tls_*_content)
SERVER_CN = "redis-single-tls"  # prepare.yml: the server certificate ...
CA_CN = "groundwork molecule CA"  # ... and the CA that signed it
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _resp(*args):
    """One RESP command, as a client sends it."""
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg.encode() if isinstance(arg, str) else arg
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


def _read_lines(sock, count):
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n")[:count]


def _handshake(address, port, cafile, server_hostname=None, commands=()):
    """A TLS connection verified against cafile (None: the controller's system CAs), checking the
    host name (the address, an IP SAN) too; runs commands and returns what the handshake gave."""
    ctx = ssl.create_default_context(cafile=cafile)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    with socket.create_connection((address, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname or address) as tls:
            tls.settimeout(5)
            replies = []
            for command in commands:
                tls.sendall(_resp(*command))
                replies.extend(_read_lines(tls, 1))
            cert = tls.getpeercert()
            return {"version": tls.version(), "cipher": tls.cipher(), "der": tls.getpeercert(binary_form=True),
                    "subject": dict(rdn[0] for rdn in cert["subject"]),
                    "issuer": dict(rdn[0] for rdn in cert["issuer"]), "replies": replies}


def _s_client(host, address, port, cafile):
    return host.run(f"timeout 10 openssl s_client -connect {address}:{port} -CAfile {cafile} "
                    f"-verify_return_error -verify_ip {address} </dev/null 2>&1")


def _dn(text):
    return re.sub(r"\s*=\s*", "=", text.strip())  # OpenSSL 3.0 prints "CN = x", later ones "CN=x"


@pytest.mark.parametrize("port", [6379, 26379], ids=["redis", "sentinel"])
def test_tls_handshake_verifies_the_deployed_certificate(host, port):
    name = _name(host)
    address = _address(name)
    ca = str(EPHEMERAL / "tls" / "ca.crt")
    if name != TLS_HOST:
        # no TLS here: a TLS client gets no handshake at all from the plaintext port
        with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout)):
            _handshake(address, port, ca)
        return

    deployed = host.file(f"{TLS_DIR}/server.crt")
    deployed_ca = host.file(f"{TLS_DIR}/ca.crt")
    assert deployed.exists and deployed_ca.exists
    assert deployed_ca.content_string.strip() == (EPHEMERAL / "tls" / "ca.crt").read_text().strip()
    deployed_der = ssl.PEM_cert_to_DER_cert(PEM_CERT.search(deployed.content_string).group(0))

    # from the controller: chain and host name verified against the scenario's CA
    if port == 6379:
        commands = [("AUTH", "app", secret("redis_app_password")), ("PING",)]
    else:
        commands = [("AUTH", secret("redis_sentinel_password")), ("PING",)]
    got = _handshake(address, port, ca, commands=commands)
    assert got["version"] in ("TLSv1.2", "TLSv1.3"), got["version"]
    assert got["cipher"] and got["cipher"][0], got["cipher"]
    assert got["der"] == deployed_der  # the port serves the certificate the role wrote
    assert got["subject"] == {"commonName": SERVER_CN} and got["issuer"] == {"commonName": CA_CN}
    assert got["replies"] == [b"+OK", b"+PONG"], got["replies"]

    # ... and refused against another CA (the system's) or under another host name
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(address, port, None)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(address, port, ca, server_hostname="not-this-host.example")

    # on the host, with OpenSSL and the CA the role deployed: verification must succeed, not
    # merely complete (-verify_return_error aborts the handshake on any verification error)
    out = _s_client(host, address, port, f"{TLS_DIR}/ca.crt")
    text = out.stdout
    assert out.rc == 0, text
    assert re.search(r"^\s*Verify return code: 0 \(ok\)\s*$", text, re.M), text
    negotiated = re.search(r"^New, (TLSv1\.[23]), Cipher is (\S+)\s*$", text, re.M)
    assert negotiated and negotiated.group(2) != "(NONE)", text
    assert _dn(re.search(r"^subject=(.*)$", text, re.M).group(1)) == f"CN={SERVER_CN}", text
    assert _dn(re.search(r"^issuer=(.*)$", text, re.M).group(1)) == f"CN={CA_CN}", text
    assert ssl.PEM_cert_to_DER_cert(PEM_CERT.search(text).group(0)) == deployed_der

    # the same with the system CA bundle instead: the handshake is refused
    wrong = _s_client(host, address, port, "/etc/ssl/certs/ca-certificates.crt")
    assert wrong.rc != 0, wrong.stdout
    assert "Verify return code: 0 (ok)" not in wrong.stdout


def test_exporter_sees_the_server(host):
    name = _name(host)
    body = host.run(f"curl -fsS --max-time 5 http://{_address(name)}:9121/metrics").stdout
    assert "\nredis_up 1" in body
    assert re.search(r'^redis_connected_clients \d+', body, re.M)


@pytest.mark.parametrize("extra, expected", [
    ('{"redis_tls_source": "platform"}', "with redis_tls_source platform, _common's tls_certificate issues them and none of these may be set"),
    ('{"redis_tls_source": "vault"}', "value of redis_tls_source must be one of: files, platform, got: vault"),
], ids=["platform-with-contents", "unknown-source"])
def test_bad_tls_source_stops_before_any_change(extra, expected):
    host = testinfra.get_host(f"ansible://{TLS_HOST}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")
    before = {unit: started(host, unit) for unit in ("redis-server", "redis-sentinel")}
    res = playbook(pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml", "-e", extra, limit=TLS_HOST)
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode != 0 and expected in out, out[-3000:]
    assert re.search(rf"{TLS_HOST}\s*:.*changed=0", out), out[-2000:]
    assert {unit: started(host, unit) for unit in ("redis-server", "redis-sentinel")} == before
