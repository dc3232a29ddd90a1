# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metrics rendering, atomic writes and the standalone helper."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_metrics as metrics


def sample_db(**overrides):
    db = {
        "name": "forensics", "path": "/var/lib/duckdb/forensics.duckdb", "up": True,
        "file_bytes": 12288, "wal_bytes": 0, "used_bytes": 8192, "free_bytes": 4096,
        "tables": [
            {"schema": "forensics", "table": "events", "rows": 100,
             "last_load": {"timestamp": 1700000000.5, "rows": 100, "seconds": 0.25}, "loaded_files": 2},
            {"schema": "forensics", "table": "cases", "rows": 3, "last_load": None, "loaded_files": None},
        ],
    }
    db.update(overrides)
    return db


def test_render_format():
    text = metrics.render([sample_db()])
    lines = text.splitlines()
    assert "# TYPE duckdb_up gauge" in lines
    assert 'duckdb_up{database="forensics",path="/var/lib/duckdb/forensics.duckdb"} 1' in lines
    assert 'duckdb_database_tables{database="forensics",path="/var/lib/duckdb/forensics.duckdb"} 2' in lines
    assert 'duckdb_table_rows{database="forensics",schema="forensics",table="cases"} 3' in lines
    assert 'duckdb_table_last_load_timestamp_seconds{database="forensics",schema="forensics",table="events"} 1700000000.5' in lines
    assert 'duckdb_table_last_load_duration_seconds{database="forensics",schema="forensics",table="events"} 0.25' in lines
    assert 'duckdb_table_loaded_files{database="forensics",schema="forensics",table="events"} 2' in lines
    # cases has no load: no last_load sample for it
    assert not any("last_load" in l and 'table="cases"' in l for l in lines)
    # sorted: cases before events
    rows = [l for l in lines if l.startswith("duckdb_table_rows")]
    assert 'table="cases"' in rows[0]
    assert text.endswith("\n")
    # every metric family has HELP and TYPE exactly once
    for name, _t, _h in metrics.METRICS:
        assert text.count("# TYPE %s " % name) == 1


def test_render_is_stable_and_escapes_labels():
    a = metrics.render([sample_db(), sample_db(name='we"ird\\x\ny', path="/b")])
    b = metrics.render([sample_db(name='we"ird\\x\ny', path="/b"), sample_db()])
    assert a == b
    assert 'database="we\\"ird\\\\x\\ny"' in a


def test_render_down_database():
    text = metrics.render([sample_db(up=False, tables=None, file_bytes=None)])
    assert 'duckdb_up{database="forensics",path="/var/lib/duckdb/forensics.duckdb"} 0' in text
    assert "duckdb_table_rows" not in text and "duckdb_database_file_bytes" not in text


def test_database_label():
    assert metrics.database_label("/x/forensics.duckdb") == "forensics"
    assert metrics.database_label("/x/a.db") == "a"
    assert metrics.database_label("/x/raw") == "raw"


def test_write_if_changed_is_atomic_and_idempotent(tmp_path):
    dest = tmp_path / "duckdb.prom"
    assert metrics.write_if_changed(str(dest), "a 1\n")
    assert dest.read_text() == "a 1\n"
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    inode = dest.stat().st_ino
    assert not metrics.write_if_changed(str(dest), "a 1\n")
    assert dest.stat().st_ino == inode
    assert metrics.write_if_changed(str(dest), "a 2\n", 0o640)
    assert dest.read_text() == "a 2\n"
    assert dest.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert sorted(os.listdir(tmp_path)) == ["duckdb.prom"]  # no temporary file left


def test_collect_real_database_and_unavailable(tmp_path):
    path = str(tmp_path / "m.duckdb")
    conn = duckdb.connect(path)
    # schema named like the database: collect must qualify names with the catalog
    conn.execute("CREATE SCHEMA m.m; CREATE TABLE m.m.t AS SELECT range AS i FROM range(42)")
    conn.close()
    db = metrics.collect(duckdb, path)
    assert db["up"] and db["name"] == "m"
    assert db["tables"] == [{"schema": "m", "table": "t", "rows": 42, "last_load": None, "loaded_files": None}]
    assert db["file_bytes"] > 0 and db["used_bytes"] > 0
    missing = metrics.collect(duckdb, str(tmp_path / "none.duckdb"))
    assert not missing["up"] and "does not exist" in missing["error"]
    # a writer holding the file in another process makes it unavailable, not an exception
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb,sys; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); sys.stdin.read()",
                               path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        locked = metrics.collect(duckdb, path)
        assert not locked["up"] and "lock" in locked["error"].lower()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_standalone_helper_writes_the_file(tmp_path):
    path = str(tmp_path / "cli.duckdb")
    conn = duckdb.connect(path)
    conn.execute("CREATE TABLE t AS SELECT 1 AS a")
    conn.close()
    out = tmp_path / "out.prom"
    proc = subprocess.run([sys.executable, metrics.__file__, "--output", str(out), path + "=lab"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'duckdb_table_rows{database="lab",schema="main",table="t"} 1' in out.read_text()
