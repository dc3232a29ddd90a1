"""Verify the plain (one-host) PostgreSQL cluster by using it with real clients (phase 0: the
steady-state checks, before the restore)."""
import pathlib
import re
import subprocess

import pytest

from gwtest import ephemeral_directory, playbook, secret

testinfra_hosts = ["ansible://pg-single"]

SCENARIO = pathlib.Path(__file__).resolve().parents[1]


def _addr(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


def _sql(host, query, db="postgres"):
    out = host.run(f"runuser -u postgres -- psql -X -At -d {db} -c \"{query}\"")
    assert out.rc == 0, out.stderr
    return out.stdout.strip()


def _app(host, query, sslmode="require", password=None):
    pw = password if password is not None else secret("app")
    dsn = f"host={_addr(host)} dbname=appdb user=app sslmode={sslmode}"
    return host.run(f"PGPASSWORD='{pw}' psql -X -At '{dsn}' -c \"{query}\"")


def test_debian_version_with_data_checksums(host):
    assert _sql(host, "SHOW server_version_num").startswith("15")
    assert _sql(host, "SHOW data_checksums") == "on"


def test_listens_on_private_address_and_localhost_only(host):
    sockets = sorted(s for s in host.socket.get_listening_sockets() if s.endswith(":5432") and s.startswith("tcp"))
    assert sockets == sorted([f"tcp://{_addr(host)}:5432", "tcp://127.0.0.1:5432"])


def test_app_writes_and_reads_over_tls_with_scram(host):
    out = _app(host, "INSERT INTO sales.orders (item) VALUES ('widget') RETURNING id")
    assert out.rc == 0, out.stderr
    out = _app(host, "SELECT count(*) FROM sales.orders WHERE item = 'widget'")
    assert out.rc == 0 and int(out.stdout) >= 1
    out = _app(host, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert out.stdout.strip() == "t"
    assert _sql(host, "SELECT rolpassword LIKE 'SCRAM-SHA-256%' FROM pg_authid WHERE rolname = 'app'") == "t"


def test_serves_the_operators_certificate_to_verifying_clients(host):
    pki = ephemeral_directory() / "operator-pki"
    # the client trusts only the operator's CA and checks the server's name
    # (through docker exec: docker cp cannot write into the container's /tmp, a tmpfs)
    subprocess.run(["docker", "exec", "-i", "pg-single", "sh", "-c", "cat > /root/operator-ca.crt"],
                   input=(pki / "ca.crt").read_text(), text=True, check=True)
    dsn = "host=pg-single dbname=appdb user=app sslmode=verify-full sslrootcert=/root/operator-ca.crt"
    out = host.run(f"PGPASSWORD='{secret('app')}' psql -X -At '{dsn}' -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'")
    assert out.rc == 0 and out.stdout.strip() == "t", out.stderr
    served = host.run(f"openssl s_client -starttls postgres -connect {_addr(host)}:5432 </dev/null 2>/dev/null | openssl x509")
    assert served.rc == 0 and served.stdout.strip() == (pki / "server.crt").read_text().strip()
    assert host.file("/etc/postgresql-tls/server.key").mode == 0o640


def test_wrong_password_and_trust_are_refused(host):
    out = _app(host, "SELECT 1", password="not-the-password")
    assert out.rc != 0 and "password authentication failed" in out.stderr
    assert _sql(host, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IN ('trust', 'password', 'md5')") == "0"


def test_init_scripts_ran_exactly_once(host):
    # converge ran twice (idempotence): the seed row is there once
    assert _sql(host, "SELECT string_agg(name, ',' ORDER BY name) FROM groundwork.init_scripts") == "001-orders,002-seed"
    assert _sql(host, "SELECT count(*) FROM sales.orders WHERE item = 'seed'", db="appdb") == "1"


def test_schema_extension_and_privileges(host):
    assert _sql(host, "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'sales'", db="appdb") == "app"
    assert _sql(host, "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'", db="appdb") == "1"
    assert _sql(host, "SELECT has_table_privilege('reporting', 'sales.orders', 'SELECT')", db="appdb") == "t"


def test_memory_tuning_and_overrides(host):
    # postgresql_memory_mb: 1024 -> shared_buffers a quarter, effective_cache_size three quarters
    assert _sql(host, "SHOW shared_buffers") == "256MB"
    assert _sql(host, "SHOW effective_cache_size") == "768MB"
    assert _sql(host, "SHOW max_connections") == "200"
    assert _sql(host, "SHOW log_min_duration_statement") == "500ms"
    assert _sql(host, "SHOW password_encryption") == "scram-sha-256"
    assert _sql(host, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_exporter_reports_the_server(host):
    out = host.run(f"curl -fsS --max-time 5 http://{_addr(host)}:9187/metrics")
    assert out.rc == 0
    assert re.search(r"^pg_up 1$", out.stdout, re.M)


def test_a_reload_reports_errors_and_a_stopped_server_instead_of_hiding_them(host):
    """The reload handler's script: pg_reload_conf() says true whatever the files hold."""
    reload = "runuser -u postgres -- /usr/local/sbin/postgresql-reload /var/run/postgresql 5432"
    out = host.run(reload)
    assert out.rc == 0 and out.stdout.strip() == "reloaded", out.stdout + out.stderr
    hba = "/etc/postgresql/" + _sql(host, "SHOW server_version_num")[:2] + "/main/pg_hba.conf"
    host.run(f"cp -p {hba} {hba}.test-saved && echo 'host all all 10.0.0.0/33 scram-sha-256' >> {hba}")
    try:
        out = host.run(reload)
        assert out.rc == 1 and "not in effect" in out.stderr and "pg_hba.conf:" in out.stderr, out.stdout + out.stderr
    finally:
        host.run(f"mv {hba}.test-saved {hba}")
    assert host.run(reload).rc == 0
    unit = "postgresql@" + _sql(host, "SHOW server_version_num")[:2] + "-main"
    assert host.run(f"systemctl stop {unit}").rc == 0
    try:
        out = host.run(reload)
        assert out.rc == 3 and "is not running" in out.stdout, out.stdout + out.stderr
    finally:
        assert host.run(f"systemctl start {unit}").rc == 0
    assert host.run("for i in $(seq 30); do pg_isready -q -h /var/run/postgresql && exit 0; sleep 1; done; exit 1").rc == 0


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["-e", "postgresql_max_connections=lots"], "postgresql_max_connections"),
        (["-e", '{"postgresql_hba_rules": [{"type": "host", "database": "all", "user": "all", "address": "0.0.0.0/0", "method": "trust"}]}'],
         "trust and password are refused"),
        (["-e", "postgresql_tls_key="], "postgresql_tls_cert and postgresql_tls_key come together"),
    ],
    ids=["not-a-number", "trust", "certificate-without-key"],
)
def test_bad_variables_stop_the_play_before_any_change(host, extra, expected):
    before = _sql(host, "SELECT pg_postmaster_start_time()")
    res = playbook(SCENARIO / "converge.yml", *extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert expected in " ".join(out.split()), out[-3000:]
    assert re.search(r"pg-single\s*:.*changed=0", out), out[-2000:]
    assert _sql(host, "SELECT pg_postmaster_start_time()") == before
