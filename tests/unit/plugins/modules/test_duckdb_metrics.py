# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""duckdb_metrics against real database files."""

from __future__ import annotations

import os

import pytest

from ansible_collections.groundwork.platform.plugins.modules import duckdb_load, duckdb_metrics, duckdb_table
from test_duckdb_harness import create_database, run_module


@pytest.fixture
def db(tmp_path):
    return create_database(tmp_path)


def prepare(db, tmp_path):
    run_module(duckdb_table, {"database": db, "schema": "lab", "name": "t",
                              "columns": [{"name": "a", "type": "int"}]})
    src = tmp_path / "a.csv"
    src.write_text("a\n1\n2\n3\n")
    loaded = run_module(duckdb_load, {"database": db, "schema": "lab", "table": "t", "src": [str(src)]})
    assert loaded["rows_loaded"] == 3
    return loaded


def samples(text):
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_metrics_file_content_and_idempotence(db, tmp_path):
    loaded = prepare(db, tmp_path)
    dest = tmp_path / "prom" / "duckdb.prom"
    dest.parent.mkdir()
    params = {"databases": [db], "dest": str(dest)}
    result = run_module(duckdb_metrics, params, diff=True)
    assert result["changed"] and result["diff"]["before"] == ""
    values = samples(dest.read_text())
    base = '{database="test",path="%s"}' % db
    assert values["duckdb_up" + base] == "1"
    assert int(values["duckdb_database_file_bytes" + base]) == os.path.getsize(db)
    assert values["duckdb_database_tables" + base] == "1"
    table = '{database="test",schema="lab",table="t"}'
    assert values["duckdb_table_rows" + table] == "3"
    assert values["duckdb_table_last_load_rows" + table] == "3"
    assert float(values["duckdb_table_last_load_duration_seconds" + table]) == loaded["files"][0]["seconds"]
    assert float(values["duckdb_table_last_load_timestamp_seconds" + table]) > 1.6e9
    assert values["duckdb_table_loaded_files" + table] == "1"
    assert result["samples"] == len(values)
    # nothing changed in the database: nothing changes in the file
    mtime = dest.stat().st_mtime_ns
    again = run_module(duckdb_metrics, params)
    assert not again["changed"] and dest.stat().st_mtime_ns == mtime
    # after another load the file changes
    src = tmp_path / "b.csv"
    src.write_text("a\n4\n")
    run_module(duckdb_load, {"database": db, "schema": "lab", "table": "t", "src": [str(src)]})
    assert run_module(duckdb_metrics, params)["changed"]
    assert samples(dest.read_text())["duckdb_table_rows" + table] == "4"
    assert samples(dest.read_text())["duckdb_table_loaded_files" + table] == "2"


def test_check_mode_does_not_write(db, tmp_path):
    dest = tmp_path / "duckdb.prom"
    result = run_module(duckdb_metrics, {"databases": [db], "dest": str(dest)}, check_mode=True)
    assert result["changed"] and not dest.exists()


def test_unavailable_database(db, tmp_path):
    dest = tmp_path / "duckdb.prom"
    missing = str(tmp_path / "missing.duckdb")
    result = run_module(duckdb_metrics, {"databases": [db, {"path": missing, "name": "gone"}], "dest": str(dest)})
    assert result["changed"] and any("duckdb_up 0" in w for w in result["warnings"])
    values = samples(dest.read_text())
    assert values['duckdb_up{database="gone",path="%s"}' % missing] == "0"
    assert values['duckdb_up{database="test",path="%s"}' % db] == "1"
    failed = run_module(duckdb_metrics, {"databases": [missing], "dest": str(dest), "fail_on_unavailable": True})
    assert failed["failed"] and "does not exist" in failed["msg"]


def test_bad_parameters(db, tmp_path):
    result = run_module(duckdb_metrics, {"databases": [{"path": db, "label": "x"}], "dest": str(tmp_path / "m.prom")})
    assert result["failed"] and "databases[0]: unknown key(s) label" in result["msg"]
    result = run_module(duckdb_metrics, {"databases": [db], "dest": str(tmp_path / "no" / "m.prom")})
    assert result["failed"] and "directory of dest" in result["msg"]
    result = run_module(duckdb_metrics, {"databases": [5], "dest": str(tmp_path / "m.prom")})
    assert result["failed"] and "databases[0]" in result["msg"]


def test_file_mode(db, tmp_path):
    dest = tmp_path / "duckdb.prom"
    run_module(duckdb_metrics, {"databases": [db], "dest": str(dest), "mode": "0640"})
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
