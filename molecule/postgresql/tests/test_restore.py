"""Backups and point-in-time restore with pgBackRest, on the plain cluster (phase 1, after the
steady-state checks: it rewinds the server)."""
import json
import pathlib
import re

import pytest

from gwtest import playbook, wait_for

testinfra_hosts = ["ansible://pg-single"]
pytestmark = pytest.mark.phase(1)

SCENARIO = pathlib.Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
RESTORE = ROOT / "playbooks" / "postgresql_restore.yml"


def _sql(host, query, db="postgres"):
    out = host.run(f"runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d {db} -c \"{query}\"")
    assert out.rc == 0, out.stderr
    return out.stdout.strip()


def _info(host):
    out = host.run("runuser -u postgres -- pgbackrest --stanza=groundwork --output=json info")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)[0]


def _now(host):
    """The server's clock, as a timestamp PostgreSQL and pgBackRest read back."""
    return _sql(host, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")


def _wait_past(host, timestamp, seconds):
    """Wait until the server's clock is `seconds` past `timestamp` (a bounded poll, not a sleep)."""
    wait_for(lambda: _sql(host, f"SELECT clock_timestamp() > '{timestamp}'::timestamptz + interval '{seconds} seconds'") == "t",
             60, 0.5, f"{seconds} s past {timestamp} on the server's clock")


def _changed_tasks(out):
    """The tasks that reported a change, from ansible-playbook's default output."""
    tasks, task = [], None
    for line in out.splitlines():
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            task = line
        elif line.startswith("changed:"):
            tasks.append(f"{task} {line}")
    return tasks


def test_wal_is_archived_and_a_full_backup_exists(host):
    assert _sql(host, "SHOW archive_mode") == "on"
    assert "pgbackrest --stanza=groundwork archive-push" in _sql(host, "SHOW archive_command")
    info = _info(host)
    assert info["status"]["code"] == 0, info["status"]
    assert [b["type"] for b in info["backup"]][:1] == ["full"]
    # a WAL switch reaches the repository (pgbackrest check waits for it)
    out = host.run("runuser -u postgres -- pgbackrest --stanza=groundwork check")
    assert out.rc == 0, out.stderr
    # archiving works now: nothing failed since the last segment reached the repository (an
    # attempt from before the stanza existed, on the first converge, may have failed and been
    # retried; PostgreSQL keeps such a segment until it is archived)
    assert _sql(host, "SELECT last_archived_wal IS NOT NULL AND (last_failed_time IS NULL OR last_archived_time > last_failed_time) "
                "FROM pg_stat_archiver") == "t"


def test_timers_schedule_full_and_differential_backups(host):
    for kind in ("full", "diff"):
        assert host.service(f"postgresql-backup-{kind}.timer").is_enabled
        assert host.service(f"postgresql-backup-{kind}.timer").is_running
    conf = host.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.mode == 0o640 and conf.group == "postgres"
    assert "repo1-retention-full=2" in conf.content_string


def test_the_timer_service_takes_a_differential_backup(host):
    before = len(_info(host)["backup"])
    out = host.run("systemctl start postgresql-backup@diff.service")
    assert out.rc == 0, out.stderr
    backups = _info(host)["backup"]
    assert len(backups) == before + 1
    assert backups[-1]["type"] == "diff"


def test_bad_restore_variables_stop_before_any_change(host):
    before = _sql(host, "SELECT pg_postmaster_start_time()")
    res = playbook(RESTORE, "-e", "postgresql_restore_target=yesterday")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "postgresql_restore_target must be a timestamp" in " ".join(out.split()), out[-3000:]
    assert re.search(r"pg-single\s*:.*changed=0", out), out[-2000:]
    assert _sql(host, "SELECT pg_postmaster_start_time()") == before


def test_point_in_time_restore_brings_back_a_dropped_database(host):
    _sql(host, "DROP DATABASE IF EXISTS restoredb")
    _sql(host, "CREATE DATABASE restoredb")
    _sql(host, "CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)", db="restoredb")
    _sql(host, "INSERT INTO probe SELECT g, 'before-target' FROM generate_series(1, 100) g", db="restoredb")
    _wait_past(host, _now(host), 1.5)
    target = _now(host)
    _wait_past(host, target, 1.5)
    # after the target: a row that must disappear, then the destruction
    _sql(host, "INSERT INTO sales.orders (item) VALUES ('after-target')", db="appdb")
    _sql(host, "DROP DATABASE restoredb")
    assert _sql(host, "SELECT count(*) FROM pg_database WHERE datname = 'restoredb'") == "0"

    res = playbook(RESTORE, "-e", json.dumps({"postgresql_restore_target": target}))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]

    assert _sql(host, "SELECT pg_is_in_recovery()") == "f"
    assert _sql(host, "SELECT count(*) FROM probe WHERE note = 'before-target'", db="restoredb") == "100"
    assert _sql(host, "SELECT count(*) FROM sales.orders WHERE item = 'after-target'", db="appdb") == "0"
    # the restored server takes writes, and archives them on its new timeline
    _sql(host, "INSERT INTO probe VALUES (101, 'after-restore')", db="restoredb")
    out = host.run("runuser -u postgres -- pgbackrest --stanza=groundwork check")
    assert out.rc == 0, out.stderr


def test_rerun_after_restore_changes_nothing(host):
    res = playbook(SCENARIO / "converge.yml")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert re.search(r"pg-single\s*:.*changed=0", out), _changed_tasks(out)
