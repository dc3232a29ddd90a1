"""Backups to MinIO (S3) from whichever member is primary, then a point-in-time restore that
rebuilds the whole Patroni cluster. Runs after the failover tests: the primary is not the
member that took the first backup any more, and WAL from both timelines is in the repository
(phase 2)."""
import json
import pathlib
import time

import pytest

from conftest import NODES, TRANSIENT, app_sql, leader, local_sql, members, playbook, sh, wait_for

testinfra_hosts = ["ansible://pgc-1"]
pytestmark = pytest.mark.phase(2)
ROOT = pathlib.Path(__file__).resolve().parents[3]


def _pgbackrest(node, command):
    return sh(node, f"runuser -u postgres -- pgbackrest --stanza=groundwork {command}", timeout=600)


def _info(node):
    out = _pgbackrest(node, "--output=json info")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def test_the_repository_is_minio_and_holds_a_full_backup(host):
    conf = sh("pgc-1", "cat /etc/pgbackrest/pgbackrest.conf").stdout
    assert "repo1-type=s3" in conf and "repo1-s3-endpoint=pgc-svc" in conf
    assert sh("pgc-1", "stat -c %a /etc/pgbackrest/pgbackrest.conf").stdout.strip() == "640"
    info = _info(leader()[0])
    assert info["status"]["code"] == 0, info["status"]
    assert [b["type"] for b in info["backup"]].count("full") >= 1
    # the objects really are in MinIO's bucket
    listing = _pgbackrest("pgc-2", "repo-ls --recurse backup")
    assert listing.returncode == 0 and "backup.info" in listing.stdout, listing.stderr


def test_the_primary_after_a_failover_archives_into_the_same_repository(host):
    primary = leader()[0]
    # check: forces a WAL switch on this primary and waits until the segment is in the repository
    out = _pgbackrest(primary, "check")
    assert out.returncode == 0, out.stdout + out.stderr
    # replicas run the same configuration and read the same repository
    for n in NODES:
        assert _info(n)["status"]["code"] == 0, n


def test_point_in_time_restore_rebuilds_the_cluster(host):
    primary = leader()[0]
    tag = f"pitr-{int(time.time())}"
    out = app_sql("pgc-1", f"INSERT INTO events (note) SELECT '{tag}' FROM generate_series(1, 100)")
    assert out.returncode == 0, out.stderr
    # a differential backup on the current primary, as the timer would take it
    diff = sh(primary, "systemctl start postgresql-backup@diff.service && systemctl show -p Result --value postgresql-backup@diff.service",
              timeout=600)
    assert diff.returncode == 0 and diff.stdout.strip() == "success", diff.stdout + diff.stderr
    assert "diff" in [b["type"] for b in _info(primary)["backup"]]
    target = local_sql(primary, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
    # the accident happens clearly after the target, by the server's own clock
    wait_for(lambda: local_sql(primary, f"SELECT clock_timestamp() > '{target}'::timestamptz + interval '2 seconds'") == "t",
             60, 0.5, "2 s past the restore target on the primary's clock")
    # the accident: after the target, the table is emptied and a row the restore must not bring back
    out = app_sql("pgc-1", "DELETE FROM events; INSERT INTO events (note) VALUES ('after-target')")
    assert out.returncode == 0, out.stderr
    assert local_sql(primary, f"SELECT count(*) FROM events WHERE note = '{tag}'", db="appdb") == "0"

    res = playbook(ROOT / "playbooks" / "postgresql_restore.yml", "-e", json.dumps({"postgresql_restore_target": target}))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]

    restored = leader()
    assert restored == [primary], members()
    assert local_sql(primary, f"SELECT count(*) FROM events WHERE note = '{tag}'", db="appdb") == "100"
    assert local_sql(primary, "SELECT count(*) FROM events WHERE note = 'after-target'", db="appdb") == "0"
    # every member streams from the restored primary (the playbook waited for them to run; a
    # fresh replica may still be connecting) and has the rows
    wait_for(lambda: sorted(m["State"] for m in members()) == ["running", "streaming", "streaming"], 180, 2,
             "the restored leader running and both replicas streaming", ignore=TRANSIENT, detail=members)
    for n in NODES:
        wait_for(lambda n=n: local_sql(n, f"SELECT count(*) FROM events WHERE note = '{tag}'", db="appdb") == "100", 120, 2,
                 f"the {tag} rows on {n}", ignore=TRANSIENT)
    # the restored cluster takes writes through the stable endpoint and archives again
    wait_for(lambda: app_sql("pgc-1", "INSERT INTO events (note) VALUES ('after-restore')", hosts="pgc-svc", port=5000,
                             timeout=10).returncode == 0, 90, 1, "a write through HAProxy's endpoint after the restore",
             ignore=TRANSIENT)
    out = _pgbackrest(primary, "check")
    assert out.returncode == 0, out.stdout + out.stderr
