"""The cluster in steady state: replication, etcd, PgBouncer, TimescaleDB, metrics."""
import re
import time

from conftest import NODES, app_sql, leader, local_sql, members, secret, sh, wait_for

testinfra_hosts = ["ansible://pgc-1"]


def test_one_leader_one_sync_standby_all_streaming(host):
    ms = members()
    roles = sorted(m["Role"] for m in ms)
    assert roles == ["Leader", "Replica", "Sync Standby"], ms
    assert all(m["State"] in ("running", "streaming") for m in ms), ms


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
        seen = wait_for(lambda r=r: local_sql(r, f"SELECT note FROM events WHERE id = {row_id}", db="appdb") == "replicated", 20)
        assert seen, f"row {row_id} not on {r}"
        assert local_sql(r, "SELECT pg_is_in_recovery()") == "t"


def test_etcd_has_three_healthy_members(host):
    out = sh("pgc-1", "ETCDCTL_API=3 etcdctl --endpoints=http://pgc-1:2379 endpoint health --cluster")
    assert out.returncode == 0, out.stderr
    assert len(re.findall(r"is healthy", out.stdout + out.stderr)) == 3


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
    # one, as Prometheus scrapes every few seconds: each must report up within 15 s.
    for n in NODES:
        assert wait_for(lambda n=n: _scrape_up(n, 9187, "pg_up"), 15, interval=2), n
        assert wait_for(lambda n=n: _scrape_up(n, 9127, "pgbouncer_up"), 15, interval=2), n
        patroni = sh(n, f"curl -fsS --max-time 5 http://{n}:8008/metrics").stdout
        assert "patroni_postgres_running" in patroni, n


def test_patroni_health_checks_for_a_load_balancer(host):
    primary = leader()[0]
    for n in NODES:
        code_primary = sh(n, f"curl -s -o /dev/null -w '%{{http_code}}' http://{n}:8008/primary").stdout
        code_replica = sh(n, f"curl -s -o /dev/null -w '%{{http_code}}' http://{n}:8008/replica").stdout
        assert (code_primary, code_replica) == (("200", "503") if n == primary else ("503", "200")), n


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
