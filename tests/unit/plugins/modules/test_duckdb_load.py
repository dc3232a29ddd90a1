# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""duckdb_load against real files and database files (and the lab data generator)."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import pathlib
import shutil

import duckdb
import pytest
import yaml

from ansible_collections.groundwork.platform.plugins.modules import duckdb_load, duckdb_table
from test_duckdb_harness import create_database, run_module


@pytest.fixture
def db(tmp_path):
    return create_database(tmp_path)


ROOT = pathlib.Path(__file__).resolve().parents[4]
FILES = ROOT / "roles" / "duckdb" / "files"
TABLE_KEYS = ("name", "schema", "columns", "primary_key", "unique", "check_constraints", "indexes")


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_forensics", FILES / "generate_forensics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("forensics")
    manifest = load_generator().generate(str(out), seed=7, events=2000)
    return out, manifest


def tables():
    return yaml.safe_load((FILES / "forensics_spec.yml").read_text())["tables"]


def create_tables(database):
    for table in tables():
        params = dict((k, copy.deepcopy(table[k])) for k in TABLE_KEYS if k in table)
        params["database"] = database
        assert run_module(duckdb_table, params)["changed"]


# The module returns times rounded to the microsecond and rates rounded to 0.1 row/s, each
# rate computed from the UNROUNDED time. Recomputing a rate from a returned time can
# therefore only be compared within the error those two roundings allow: the true time lies
# within half a microsecond of the returned one, and the rate within 0.05 of rows / true time.
# (On a fast machine a 2,000-row load takes ~0.016 s, where half a microsecond already moves
# the rate by ~4 rows/s: an exact or "< 1" comparison fails there.)
TIME_HALF_STEP = 0.5e-6
RATE_HALF_STEP = 0.05


def assert_rate_matches(rows, seconds, rate):
    assert seconds > TIME_HALF_STEP, seconds
    low = rows / (seconds + TIME_HALF_STEP) - RATE_HALF_STEP
    high = rows / (seconds - TIME_HALF_STEP) + RATE_HALF_STEP
    # 1e-12: room for float arithmetic in the bounds themselves, nothing more
    assert low * (1 - 1e-12) <= rate <= high * (1 + 1e-12), (rows, seconds, rate, low, high)


def test_assert_rate_matches_rejects_a_wrong_rate():
    assert_rate_matches(2000, 0.016373, 122153.4)  # the case that failed an exact comparison
    with pytest.raises(AssertionError):
        assert_rate_matches(2000, 0.016373, 122160.0)  # outside the rounding error
    with pytest.raises(AssertionError):
        assert_rate_matches(2000, 0.016373, 2000 / 0.016373 * 1.001)


def count(path, table):
    conn = duckdb.connect(path, read_only=True)
    try:
        return conn.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
    finally:
        conn.close()


def ledger(path):
    conn = duckdb.connect(path, read_only=True)
    try:
        return conn.execute("SELECT table_name, file_path, sha256, mode, rows FROM _groundwork.load_ledger "
                            "ORDER BY loaded_at, rowid").fetchall()
    finally:
        conn.close()


def test_generator_is_deterministic(dataset, tmp_path):
    out, manifest = dataset
    assert manifest["rows"] == {"cases": 20, "evidence": 200, "events": 2000}
    assert sorted(manifest["files"]) == sorted(
        "%s.%s" % (t, f) for t in ("cases", "evidence", "events") for f in ("csv", "parquet", "json"))
    again = load_generator().generate(str(tmp_path), seed=7, events=2000, formats=("csv", "json"))
    for name in ("events.csv", "evidence.json", "cases.csv"):
        assert again["files"][name]["sha256"] == manifest["files"][name]["sha256"]
    other = load_generator().generate(str(tmp_path / "other"), seed=8, events=2000, formats=("csv",))
    assert other["files"]["events.csv"]["sha256"] != manifest["files"]["events.csv"]["sha256"]
    assert not (tmp_path / "other" / ".csv-staging").exists()
    assert json.loads((out / "manifest.json").read_text())["seed"] == 7


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_load_each_format_with_correct_counts(db, dataset, fmt):
    out, manifest = dataset
    create_tables(db)
    for table in tables():
        src = str(out / ("%s.%s" % (table["source"], fmt)))
        result = run_module(duckdb_load, {"database": db, "schema": "forensics", "table": table["name"], "src": [src]})
        assert not result.get("failed"), result
        expected = manifest["rows"][table["name"]]
        assert result["changed"]
        assert result["rows_loaded"] == expected
        assert result["table_rows"] == expected
        assert result["files"][0]["status"] == "loaded" and result["files"][0]["rows"] == expected
        assert result["files"][0]["format"] == fmt
        assert result["seconds"] > 0 and result["rows_per_second"] > 0
        # durable time (commit + checkpoint included) is never shorter than the INSERT alone
        assert result["seconds"] >= result["insert_seconds"] > 0
        assert_rate_matches(expected, result["seconds"], result["rows_per_second"])
        assert_rate_matches(expected, result["insert_seconds"], result["insert_rows_per_second"])
        assert_rate_matches(expected, result["files"][0]["seconds"], result["files"][0]["rows_per_second"])
        assert not os.path.exists(db + ".wal")  # checkpointed
        assert result["files"][0]["sha256"] == hashlib.sha256(pathlib.Path(src).read_bytes()).hexdigest()
        assert count(db, "forensics.%s" % table["name"]) == expected
    conn = duckdb.connect(db, read_only=True)
    try:
        # nested values survive the trip through every format
        custody = conn.execute("SELECT custody[1].action, len(custody) >= 1 FROM forensics.evidence LIMIT 1").fetchone()
        assert custody == ("seized", True)
        assert conn.execute("SELECT count(*) FROM forensics.events WHERE json_type(details) <> 'OBJECT'").fetchone()[0] == 0
        assert conn.execute("SELECT typeof(lead_investigator) FROM forensics.cases LIMIT 1").fetchone()[0].startswith("STRUCT")
    finally:
        conn.close()


def test_skip_if_loaded_is_idempotent_by_content(db, dataset, tmp_path):
    out, _manifest = dataset
    create_tables(db)
    params = {"database": db, "schema": "forensics", "table": "cases", "src": [str(out / "cases.parquet")]}
    assert run_module(duckdb_load, params)["rows_loaded"] == 20
    again = run_module(duckdb_load, params)
    assert not again["changed"] and again["rows_loaded"] == 0
    assert again["files"][0]["status"] == "skipped"
    # same content under another name is recognised too
    copy_path = tmp_path / "renamed.parquet"
    shutil.copy(out / "cases.parquet", copy_path)
    renamed = run_module(duckdb_load, dict(params, src=[str(copy_path)]))
    assert not renamed["changed"] and "already loaded from" in renamed["files"][0]["reason"]
    assert count(db, "forensics.cases") == 20
    assert len(ledger(db)) == 1
    # check mode reports the file as already loaded as well
    assert not run_module(duckdb_load, params, check_mode=True)["changed"]


def test_append_loads_again(db, tmp_path):
    run_module(duckdb_table, {"database": db, "name": "t", "columns": [{"name": "a", "type": "int"}]})
    src = tmp_path / "a.csv"
    src.write_text("a\n1\n2\n3\n")
    params = {"database": db, "table": "t", "src": [str(src)], "mode": "append"}
    assert run_module(duckdb_load, params)["rows_loaded"] == 3
    assert run_module(duckdb_load, params)["rows_loaded"] == 3
    assert count(db, "t") == 6
    forced = run_module(duckdb_load, dict(params, mode="skip_if_loaded", force=True))
    assert forced["rows_loaded"] == 3 and count(db, "t") == 9


def test_replace_is_idempotent_and_reloads_on_change(db, tmp_path):
    run_module(duckdb_table, {"database": db, "name": "t", "columns": [{"name": "a", "type": "int"}]})
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("a\n1\n2\n")
    two.write_text("a\n3\n")
    params = {"database": db, "table": "t", "src": [str(tmp_path / "*.csv")], "mode": "replace"}
    first = run_module(duckdb_load, params)
    assert first["changed"] and first["truncated"] and first["rows_loaded"] == 3
    assert [f["path"] for f in first["files"]] == [str(one), str(two)]  # glob, sorted
    second = run_module(duckdb_load, params)
    assert not second["changed"] and count(db, "t") == 3
    two.write_text("a\n3\n4\n")
    third = run_module(duckdb_load, params)
    assert third["changed"] and third["rows_loaded"] == 4 and count(db, "t") == 4
    # rows deleted behind the ledger's back: replace notices and reloads
    conn = duckdb.connect(db)
    conn.execute("DELETE FROM t WHERE a = 1")
    conn.close()
    assert run_module(duckdb_load, params)["changed"] and count(db, "t") == 4


def test_check_mode_loads_nothing(db, dataset):
    out, _manifest = dataset
    create_tables(db)
    params = {"database": db, "schema": "forensics", "table": "events", "src": [str(out / "events.csv")]}
    result = run_module(duckdb_load, params, check_mode=True)
    assert result["changed"] and result["rows_loaded"] == 0
    assert result["files"][0]["status"] == "would_load"
    assert count(db, "forensics.events") == 0
    conn = duckdb.connect(db, read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'load_ledger'").fetchone()[0] == 0
    finally:
        conn.close()


def test_csv_keeps_leading_zeros_in_text_columns(db, tmp_path):
    run_module(duckdb_table, {"database": db, "name": "codes",
                              "columns": [{"name": "code", "type": "VARCHAR"}, {"name": "n", "type": "INTEGER"}]})
    src = tmp_path / "codes.csv"
    src.write_text("n,code\n1,00123\n2,0042\n")  # column order differs from the table
    assert run_module(duckdb_load, {"database": db, "table": "codes", "src": [str(src)]})["rows_loaded"] == 2
    conn = duckdb.connect(db, read_only=True)
    try:
        assert conn.execute("SELECT code FROM codes ORDER BY n").fetchall() == [("00123",), ("0042",)]
    finally:
        conn.close()


def test_column_mismatches_fail_before_loading(db, tmp_path):
    run_module(duckdb_table, {"database": db, "name": "t", "columns": [
        {"name": "a", "type": "int", "nullable": False}, {"name": "b", "type": "text"}]})
    extra = tmp_path / "extra.csv"
    extra.write_text("a,b,c\n1,x,y\n")
    result = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(extra)]})
    assert result["failed"] and "has column not in the table: c" in result["msg"]
    assert count(db, "t") == 0
    ok = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(extra)], "ignore_extra_columns": True})
    assert ok["rows_loaded"] == 1
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("b\nx\n")
    result = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(lacking)]})
    assert result["failed"] and "lacks NOT NULL column without a default: a" in result["msg"]


def test_a_failing_file_rolls_back_the_whole_load(db, tmp_path):
    run_module(duckdb_table, {"database": db, "name": "t", "columns": [{"name": "a", "type": "int", "primary_key": True}]})
    good, bad = tmp_path / "1-good.csv", tmp_path / "2-bad.csv"
    good.write_text("a\n1\n2\n")
    bad.write_text("a\n3\n1\n")  # duplicate key 1
    result = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(tmp_path / "*.csv")]})
    assert result["failed"]
    assert "2-bad.csv" in result["msg"] and "nothing was loaded" in result["msg"]
    assert count(db, "t") == 0
    conn = duckdb.connect(db, read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'load_ledger'").fetchone()[0] == 0
    finally:
        conn.close()


def test_reader_options_and_explicit_format(db, tmp_path):
    columns = [{"name": "a", "type": "int"}, {"name": "d", "type": "date"}]
    run_module(duckdb_table, {"database": db, "name": "t", "columns": columns})
    src = tmp_path / "export.txt"
    src.write_text("a;d\n1;31.12.2024\n")
    result = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(src)], "format": "csv",
                                      "reader_options": {"delim": ";", "dateformat": "%d.%m.%Y"}})
    assert result["rows_loaded"] == 1, result.get("msg")
    conn = duckdb.connect(db, read_only=True)
    try:
        assert conn.execute("SELECT CAST(d AS VARCHAR) FROM t").fetchone()[0] == "2024-12-31"
    finally:
        conn.close()


@pytest.mark.parametrize("params, fragment", [
    ({"src": ["/nonexistent/*.csv"]}, "src[0]: no file matches /nonexistent/*.csv"),
    ({"src": ["/nonexistent/a.csv"]}, "src[0]: /nonexistent/a.csv is not a file"),
    ({"table": "nope"}, "table main.nope does not exist"),
    ({"reader_options": {"bad-opt": 1}}, "reader_options.bad-opt: not a valid reader option name"),
])
def test_bad_parameters(db, tmp_path, params, fragment):
    run_module(duckdb_table, {"database": db, "name": "t", "columns": [{"name": "a", "type": "int"}]})
    src = tmp_path / "a.csv"
    src.write_text("a\n1\n")
    base = {"database": db, "table": "t", "src": [str(src)]}
    base.update(params)
    result = run_module(duckdb_load, base)
    assert result["failed"] and fragment in result["msg"]


def test_unknown_extension_needs_format(db, tmp_path):
    src = tmp_path / "a.data"
    src.write_text("a\n1\n")
    result = run_module(duckdb_load, {"database": db, "table": "t", "src": [str(src)]})
    assert result["failed"] and "cannot tell the format" in result["msg"]


def test_missing_database_and_check_mode(tmp_path, dataset):
    out, _manifest = dataset
    missing = str(tmp_path / "none.duckdb")
    params = {"database": missing, "table": "t", "src": [str(out / "cases.csv")]}
    check = run_module(duckdb_load, params, check_mode=True)
    assert check["changed"] and check["files"][0]["status"] == "would_load"
    assert not os.path.exists(missing)
    assert run_module(duckdb_load, params)["failed"]
