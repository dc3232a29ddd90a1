"""The cluster in steady state: replication, etcd, PgBouncer, TimescaleDB, metrics (phase 0:
before the failover, restore and rolling restart tests)."""
import re
import time

import pytest
from conftest import ETCD_TLS, NODES, SCENARIO, TRANSIENT, app_sql, leader, local_sql, members, playbook, secret, sh, wait_for

testinfra_hosts = ["ansible://pgc-1"]


def test_one_leader_one_sync_standby_all_streaming(host):
    # the converge's last restart may still settle (a replica reconnecting, the sync standby chosen)
    def settled():
        ms = members()
        roles = sorted(m["Role"] for m in ms)
        return roles == ["Leader", "Replica", "Sync Standby"] and all(m["State"] in ("running", "streaming") for m in ms)
    wait_for(settled, 120, 2, "one leader, one sync standby, one replica, all running or streaming",
             ignore=TRANSIENT, detail=members)


def test_replication_slots_and_checksums(host):
    primary = leader()[0]
    assert local_sql(primary, "SELECT count(*) FROM pg_replication_slots WHERE active") == "2"
    assert local_sql(primary, "SHOW data_checksums") == "on"
    assert local_sql(primary, "SHOW synchronous_standby_names") != ""
    assert local_sql(primary, "SHOW shared_buffers") == "128MB"  # postgresql_memory_mb: 512


def test_a_row_written_on_the_primary_is_read_on_both_replicas(host):
    out = app_sql("pgc-1", "INSERT INTO events (note) VALUES ('replicated') RETURNING id")
    assert out.returncode == 0, out.stderr
    row_id = out.stdout.split()[0]
    replicas = [n for n in NODES if n not in leader()]
    assert len(replicas) == 2
    for r in replicas:
        wait_for(lambda r=r: local_sql(r, f"SELECT note FROM events WHERE id = {row_id}", db="appdb") == "replicated", 60,
                 what=f"row {row_id} on {r}")
        assert local_sql(r, "SELECT pg_is_in_recovery()") == "t"


def test_etcd_has_three_healthy_members_over_tls(host):
    out = sh("pgc-1", f"ETCDCTL_API=3 etcdctl --endpoints=https://pgc-1:2379 {ETCD_TLS} endpoint health --cluster")
    assert out.returncode == 0, out.stderr
    assert len(re.findall(r"https://[^ ]+ is healthy", out.stdout + out.stderr)) == 3
    # the peers talk TLS too
    members_out = sh("pgc-1", f"ETCDCTL_API=3 etcdctl --endpoints=https://pgc-1:2379 {ETCD_TLS} member list")
    assert members_out.returncode == 0, members_out.stderr
    assert members_out.stdout.count(":2380") == 3 and "http://" not in members_out.stdout.replace("https://", "")


def test_etcd_refuses_plain_http_and_clients_without_a_certificate(host):
    plain = sh("pgc-1", "ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints=http://pgc-1:2379 get /x", timeout=30)
    assert plain.returncode != 0
    no_cert = sh("pgc-1", "ETCDCTL_API=3 etcdctl --dial-timeout=3s --command-timeout=5s --endpoints=https://pgc-1:2379 "
                 "--cacert=/etc/etcd/tls/ca.crt get /x", timeout=30)
    assert no_cert.returncode != 0
    # Patroni's own client certificate is accepted: it is what keeps the cluster's leader key
    patroni = sh("pgc-2", "ETCDCTL_API=3 etcdctl --endpoints=https://pgc-1:2379 --cacert=/etc/patroni/tls/ca.crt "
                 "--cert=/etc/patroni/tls/server.crt --key=/etc/patroni/tls/server.key get --prefix --keys-only /service/")
    assert patroni.returncode == 0, patroni.stderr
    assert "/service/groundwork/leader" in patroni.stdout
    assert sh("pgc-2", "stat -c %U:%a /etc/patroni/tls/server.key").stdout.strip() == "postgres:600"


@pytest.mark.phase(1)
def test_etcd_never_removes_the_data_of_a_member_whose_marker_is_lost(host):
    """The role removes only the package's throwaway member before it bootstraps: a member of the
    cluster that lost the role's marker stops the run with the line to restore, and keeps its data."""
    marker = "/var/lib/etcd/.groundwork-bootstrapped"
    line = sh("pgc-3", f"cat {marker}").stdout.strip()
    assert line.count("https://") == 3, line
    data_before = sh("pgc-3", "ls /var/lib/etcd/default/member").stdout
    assert "wal" in data_before
    sh("pgc-3", f"mv {marker} /root/etcd-marker.bak")
    try:
        # every host of the play (the members' addresses come from common's facts), etcd's tasks only
        res = playbook(SCENARIO / "converge.yml", "--tags", "etcd")
        out = " ".join((res.stdout + res.stderr).split())
        assert res.returncode != 0
        assert "holds data, but not of the single throwaway member" in out and "Nothing was removed" in out, out[-3000:]
        assert f"restore the marker (one line: {line})" in out, out[-3000:]
        for node in NODES:
            assert re.search(rf"{node}\s*:.*changed=0", res.stdout), res.stdout[-2000:]
        assert sh("pgc-3", "ls /var/lib/etcd/default/member").stdout == data_before
        assert sh("pgc-3", "systemctl is-active etcd").stdout.strip() == "active"
    finally:
        sh("pgc-3", f"mv /root/etcd-marker.bak {marker}")
    health = sh("pgc-1", f"ETCDCTL_API=3 etcdctl --endpoints=https://pgc-1:2379 {ETCD_TLS} endpoint health --cluster")
    assert len(re.findall(r"https://[^ ]+ is healthy", health.stdout + health.stderr)) == 3, health.stdout + health.stderr


def test_200_concurrent_clients_through_pgbouncer(host):
    before = int(local_sql(leader()[0], "SELECT count(*) FROM events WHERE note = 'pgbench'", db="appdb"))
    sh("pgc-2", "echo \"INSERT INTO events (note) VALUES ('pgbench');\" > /tmp/insert.sql")
    out = sh(
        "pgc-2",
        f"PGPASSWORD='{secret('app')}' PGTARGETSESSIONATTRS=read-write pgbench -n -h {','.join(NODES)} -p 6432 "
        "-U app -c 200 -j 4 -t 10 -f /tmp/insert.sql appdb",
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "number of clients: 200" in out.stdout
    assert re.search(r"number of failed transactions: 0 ", out.stdout), out.stdout
    after = int(local_sql(leader()[0], "SELECT count(*) FROM events WHERE note = 'pgbench'", db="appdb"))
    assert after - before == 2000


def test_pgbouncer_rejects_a_wrong_password_and_plain_userlist(host):
    out = sh("pgc-1", "PGPASSWORD=wrong psql -X -At 'host=pgc-1 port=6432 dbname=appdb user=app' -c 'SELECT 1'")
    assert out.returncode != 0
    lines = sh("pgc-1", "cut -d' ' -f2 /etc/pgbouncer/userlist.txt").stdout.split()
    assert lines and all(x.startswith('"SCRAM-SHA-256$') for x in lines)
    assert sh("pgc-1", "stat -c %a /etc/pgbouncer/userlist.txt").stdout.strip() == "600"


def test_pgbouncer_requires_tls_with_the_members_certificate(host):
    base = f"PGPASSWORD='{secret('app')}' psql -X -At 'host=pgc-1 port=6432 dbname=appdb user=app connect_timeout=5"
    plain = sh("pgc-1", f"{base} sslmode=disable' -c 'SELECT 1'")
    assert plain.returncode != 0
    assert "SSL required" in plain.stderr, plain.stderr
    # the certificate PgBouncer presents is the one the member's PostgreSQL uses (self-signed
    # here, so it is its own root): verify-ca succeeds only against that certificate
    ok = sh("pgc-1", f"{base} sslmode=verify-ca sslrootcert=/etc/postgresql-tls/server.crt' -c 'SELECT 1'")
    assert ok.returncode == 0 and ok.stdout.strip() == "1", ok.stderr
    other = sh("pgc-1", f"{base} sslmode=verify-ca sslrootcert=/etc/etcd/tls/ca.crt' -c 'SELECT 1'")
    assert other.returncode != 0 and "certificate verify failed" in other.stderr, other.stderr


def test_pgbouncer_admin_console(host):
    out = sh("pgc-1", f"PGPASSWORD='{secret('pgbouncer_admin')}' psql -X -At 'host=pgc-1 port=6432 dbname=pgbouncer user=pgbouncer_admin' -c 'SHOW POOLS'")
    assert out.returncode == 0, out.stderr
    assert "appdb" in out.stdout


def _scrape_up(node, port, metric):
    out = sh(node, f"curl -fsS --max-time 5 http://{node}:{port}/metrics").stdout
    return re.search(rf"^{metric} 1$", out, re.M) is not None


def test_metrics_endpoints(host):
    # An exporter whose server restarted since its last scrape (Patroni restarts members for
    # pending settings, switchovers) reports *_up 0 on that scrape and reconnects for the next
    # one, as Prometheus scrapes every few seconds: each must report up within a few scrapes
    # (bounded generously: the machine may be loaded).
    for n in NODES:
        wait_for(lambda n=n: _scrape_up(n, 9187, "pg_up"), 60, interval=2, what=f"pg_up 1 on {n}")
        wait_for(lambda n=n: _scrape_up(n, 9127, "pgbouncer_up"), 60, interval=2, what=f"pgbouncer_up 1 on {n}")
        patroni = sh(n, f"curl -fsS --max-time 5 http://{n}:8008/metrics").stdout
        assert "patroni_postgres_running" in patroni, n
        # etcd's plain metrics listener (no client certificate needed to scrape it)
        etcd = sh(n, f"curl -fsS --max-time 5 http://{n}:2381/metrics").stdout
        assert re.search(r"^etcd_server_has_leader 1$", etcd, re.M), n


def test_patroni_health_checks_for_a_load_balancer(host):
    primary = leader()[0]
    for n in NODES:
        code_primary = sh(n, f"curl -s -o /dev/null -w '%{{http_code}}' http://{n}:8008/primary").stdout
        code_replica = sh(n, f"curl -s -o /dev/null -w '%{{http_code}}' http://{n}:8008/replica").stdout
        assert (code_primary, code_replica) == (("200", "503") if n == primary else ("503", "200")), n


def test_haproxy_endpoints_reach_the_primary_and_the_replicas(host):
    primary = leader()[0]
    # HAProxy marks members up from Patroni's checks (fall/rise): give it a few intervals
    wait_for(lambda: app_sql("pgc-1", "SELECT 1", hosts="pgc-svc", port=5000, timeout=10).returncode == 0, 90,
             what="a query through HAProxy's primary endpoint", ignore=TRANSIENT)
    out = app_sql("pgc-1", "INSERT INTO events (note) VALUES ('via-haproxy') RETURNING inet_server_addr()",
                  hosts="pgc-svc", port=5000)
    assert out.returncode == 0, out.stderr
    addr = out.stdout.split()[0]
    assert sh("pgc-svc", f"getent hosts {primary}").stdout.split()[0] == addr
    # 5001 lands on a replica, in recovery
    ro = sh("pgc-1", f"PGPASSWORD='{secret('app')}' psql -X -At 'host=pgc-svc port=5001 dbname=appdb user=app connect_timeout=3' "
            "-c 'SELECT pg_is_in_recovery()'")
    assert ro.returncode == 0 and ro.stdout.strip() == "t", ro.stderr


def test_timescaledb_apache_edition_retention_timer_drops_old_chunks(host):
    primary = leader()[0]
    db = "appdb"
    cam = int(time.time()) % 1000000  # this run's rows only (the test may run again on the same hosts)
    assert local_sql(primary, "SHOW timescaledb.license", db=db) == "apache"
    local_sql(primary, f"INSERT INTO camera_metrics VALUES (now() - interval '40 days', {cam}, 'fps', 25), "
                       f"(now() - interval '35 days', {cam}, 'fps', 24), (now() - interval '1 day', {cam}, 'fps', 26)", db=db)
    local_sql(primary, f"INSERT INTO vehicle_detections VALUES (now() - interval '10 days', {cam}, 'car', 0.9), "
                       f"(now() - interval '1 hour', {cam}, 'bus', 0.8)", db=db)
    old = "SELECT count(*) FROM show_chunks('{t}', older_than => interval '{i}')"
    assert int(local_sql(primary, old.format(t="camera_metrics", i="30 days"), db=db)) >= 2
    assert int(local_sql(primary, old.format(t="vehicle_detections", i="7 days"), db=db)) >= 1
    # the timer's service on a replica does nothing, on the primary it drops the old chunks
    replica = [n for n in NODES if n != primary][0]
    assert sh(replica, "systemctl start timescaledb-retention.service").returncode == 0
    assert int(local_sql(primary, old.format(t="camera_metrics", i="30 days"), db=db)) >= 2
    out = sh(primary, "systemctl start timescaledb-retention.service")
    assert out.returncode == 0, out.stderr
    assert local_sql(primary, old.format(t="camera_metrics", i="30 days"), db=db) == "0"
    assert local_sql(primary, old.format(t="vehicle_detections", i="7 days"), db=db) == "0"
    assert local_sql(primary, "SELECT count(*) FROM camera_metrics WHERE time < now() - interval '30 days'", db=db) == "0"
    assert local_sql(primary, f"SELECT count(*) FROM camera_metrics WHERE camera_id = {cam}", db=db) == "1"
    assert local_sql(primary, f"SELECT count(*) FROM vehicle_detections WHERE camera_id = {cam}", db=db) == "1"
    assert sh(primary, "systemctl is-enabled timescaledb-retention.timer").stdout.strip() == "enabled"
    assert local_sql(primary, "SELECT count(*) FROM pg_indexes WHERE indexname = 'camera_metrics_camera_time'", db=db) == "1"
