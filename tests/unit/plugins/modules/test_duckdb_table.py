# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""duckdb_table (and duckdb_schema) against real database files."""

from __future__ import annotations

import copy
import hashlib
import os
import pathlib

import duckdb
import pytest
import yaml

from ansible_collections.groundwork.platform.plugins.modules import duckdb_schema, duckdb_table
from test_duckdb_harness import create_database, run_module


@pytest.fixture
def db(tmp_path):
    return create_database(tmp_path)


SPEC_FILE = pathlib.Path(__file__).resolve().parents[4] / "roles" / "duckdb" / "files" / "forensics_spec.yml"
TABLE_KEYS = ("name", "schema", "columns", "primary_key", "unique", "check_constraints", "indexes")


def forensics_tables():
    return yaml.safe_load(SPEC_FILE.read_text())["tables"]


def params_for(table, database):
    params = dict((k, copy.deepcopy(table[k])) for k in TABLE_KEYS if k in table)
    params["database"] = database
    return params


def digest(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def query(path, sql):
    conn = duckdb.connect(path, read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


ALL_TYPES = [
    {"name": "id", "type": "BIGINT", "primary_key": True},
    {"name": "amount", "type": "DECIMAL(18,4)", "nullable": False, "default": "0"},
    {"name": "at", "type": "TIMESTAMP WITH TIME ZONE", "default": "now()"},
    {"name": "day", "type": "date"},
    {"name": "uid", "type": "uuid", "default": "gen_random_uuid()"},
    {"name": "tags", "type": "VARCHAR[]"},
    {"name": "vec", "type": "FLOAT[3]"},
    {"name": "who", "type": 'STRUCT("name" VARCHAR, badge INTEGER, roles VARCHAR[])'},
    {"name": "state", "type": "ENUM('new', 'done')", "default": "'new'"},
    {"name": "doc", "type": "JSON"},
    {"name": "props", "type": "MAP(VARCHAR, INTEGER)"},
    {"name": "raw", "type": "BLOB"},
    {"name": "flag", "type": "bool"},
    {"name": "took", "type": "interval"},
    {"name": "big", "type": "HUGEINT"},
    {"name": "small", "type": "utinyint", "check": "small < 200"},
]


def test_forensics_spec_creates_and_is_idempotent(db):
    for table in forensics_tables():
        created = run_module(duckdb_table, params_for(table, db), diff=True)
        assert not created.get("failed"), created
        assert created["changed"] and created["action"] == "create"
        assert created["diff"]["before"] == "" and "CREATE TABLE" in created["diff"]["after"]
    before = digest(db)
    for table in forensics_tables():
        again = run_module(duckdb_table, params_for(table, db), diff=True)
        assert not again["changed"], again["changes"]
        assert again["statements"] == []
        assert again["diff"]["before"] == again["diff"]["after"]
        check = run_module(duckdb_table, params_for(table, db), check_mode=True)
        assert not check["changed"]
    assert digest(db) == before
    tables = query(db, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'forensics' ORDER BY 1")
    assert tables == [("cases",), ("events",), ("evidence",)]
    # constraints are real: a severity of 9 is refused by DuckDB
    conn = duckdb.connect(db)
    try:
        with pytest.raises(duckdb.ConstraintException):
            conn.execute("INSERT INTO forensics.events (event_id, case_id, occurred_at, source, event_type, severity, host) "
                         "VALUES (gen_random_uuid(), 1, now(), 'edr', 'x', 9, 'h')")
    finally:
        conn.close()


def test_all_common_types(db):
    params = {"database": db, "name": "everything", "columns": ALL_TYPES,
              "indexes": [{"columns": ["day"]}, {"name": "ux_uid", "columns": ["uid"], "unique": True}]}
    created = run_module(duckdb_table, params)
    assert created["changed"], created
    types = dict(query(db, "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'everything'"))
    assert types["amount"] == "DECIMAL(18,4)"
    assert types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["tags"] == "VARCHAR[]"
    assert types["vec"] == "FLOAT[3]"
    assert types["state"] == "ENUM('new', 'done')"
    assert types["doc"] == "JSON"
    assert types["uid"] == "UUID"
    assert types["who"].startswith("STRUCT(")
    assert not run_module(duckdb_table, params)["changed"]
    assert created["table"]["primary_key"] == ["id"]
    assert sorted(i["name"] for i in created["table"]["indexes"]) == ["everything_day_idx", "ux_uid"]


def test_check_mode_on_missing_table_and_missing_database(db, tmp_path):
    table = forensics_tables()[0]
    result = run_module(duckdb_table, params_for(table, db), check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "create"
    assert result["changes"][0] == "create schema forensics"
    assert query(db, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'cases'") == [(0,)]
    missing = str(tmp_path / "later.duckdb")
    result = run_module(duckdb_table, params_for(table, missing), check_mode=True)
    assert result["changed"] and not os.path.exists(missing)
    assert any("does not exist yet" in w for w in result["warnings"])
    failed = run_module(duckdb_table, params_for(table, missing))
    assert failed["failed"] and "duckdb_database first" in failed["msg"]


def _cases(db):
    table = forensics_tables()[0]
    assert run_module(duckdb_table, params_for(table, db))["changed"]
    conn = duckdb.connect(db)
    try:
        conn.execute("INSERT INTO forensics.cases (case_id, case_number, title, opened_at, budget) VALUES "
                     "(1, 'C-1', 'one', TIMESTAMPTZ '2024-01-01 00:00:00+00', 10.5), "
                     "(2, 'C-2', 'two', TIMESTAMPTZ '2024-02-01 00:00:00+00', 20)")
    finally:
        conn.close()
    return table


def test_alter_adds_column_keeping_rows(db):
    table = _cases(db)
    params = params_for(table, db)
    params["columns"].append({"name": "notes", "type": "TEXT", "default": "'none'"})
    result = run_module(duckdb_table, params, diff=True)
    assert result["changed"] and result["action"] == "alter"
    assert result["changes"] == ["add column notes VARCHAR"]
    assert '"notes" VARCHAR DEFAULT' in result["diff"]["after"] and "notes" not in result["diff"]["before"]
    rows = query(db, "SELECT case_id, notes FROM forensics.cases ORDER BY 1")
    assert rows == [(1, "none"), (2, "none")]
    # the index that DuckDB makes us drop around ALTER TABLE is back
    assert query(db, "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'cases'") == [("cases_status_idx",)]
    assert not run_module(duckdb_table, params)["changed"]


def test_destructive_changes_refused_and_nothing_changes(db):
    table = _cases(db)
    before = digest(db)
    params = params_for(table, db)
    params["columns"] = [c for c in params["columns"] if c["name"] != "tags"]
    refused = run_module(duckdb_table, params)
    assert refused["failed"]
    assert "refusing destructive changes to forensics.cases: drop column tags" in refused["msg"]
    assert refused["destructive"] == ["drop column tags"]
    lossy = params_for(table, db)
    lossy["columns"][8]["type"] = "INTEGER"  # budget DECIMAL(12,2) -> INTEGER
    refused = run_module(duckdb_table, lossy)
    assert refused["failed"] and "(may lose data)" in refused["msg"]
    dropped = run_module(duckdb_table, {"database": db, "schema": "forensics", "name": "cases", "state": "absent"})
    assert dropped["failed"] and "refusing to drop table forensics.cases" in dropped["msg"]
    assert digest(db) == before
    assert query(db, "SELECT count(*) FROM forensics.cases") == [(2,)]


def test_destructive_changes_when_allowed(db):
    table = _cases(db)
    params = params_for(table, db)
    params["columns"] = [c for c in params["columns"] if c["name"] != "tags"]
    params.update(allow_destructive=True, allow_rebuild=True)
    result = run_module(duckdb_table, params)
    assert result["changed"] and result["action"] == "rebuild"
    cols = [r[0] for r in query(db, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'cases'")]
    assert "tags" not in cols
    rows = query(db, "SELECT case_id, CAST(budget AS DOUBLE) FROM forensics.cases ORDER BY 1")
    assert rows == [(1, 10.5), (2, 20.0)]
    dropped = run_module(duckdb_table, {"database": db, "schema": "forensics", "name": "cases", "state": "absent",
                                        "allow_destructive": True})
    assert dropped["changed"]
    assert query(db, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'cases'") == [(0,)]


def test_widening_in_place_without_keys(db):
    params = {"database": db, "name": "plain", "columns": [{"name": "n", "type": "INTEGER"},
                                                           {"name": "s", "type": "ENUM('a')"}]}
    run_module(duckdb_table, params)
    conn = duckdb.connect(db)
    conn.execute("INSERT INTO plain VALUES (2147483647, 'a')")
    conn.close()
    params["columns"] = [{"name": "n", "type": "BIGINT"}, {"name": "s", "type": "ENUM('a', 'b')"}]
    result = run_module(duckdb_table, params)
    assert result["action"] == "alter" and not result["destructive"]
    assert query(db, "SELECT n + 1, s FROM plain") == [(2147483648, "a")]


def test_constraint_change_needs_rebuild_which_keeps_rows(db):
    table = _cases(db)
    params = params_for(table, db)
    params["check_constraints"] = params["check_constraints"] + ["budget < 1000"]
    refused = run_module(duckdb_table, params)
    assert refused["failed"] and "allow_rebuild" in refused["msg"]
    result = run_module(duckdb_table, dict(params, allow_rebuild=True))
    assert result["changed"] and result["action"] == "rebuild"
    assert query(db, "SELECT count(*) FROM forensics.cases") == [(2,)]
    assert ("(budget < 1000)",) in query(db, "SELECT expression FROM duckdb_constraints() WHERE table_name = 'cases' "
                                             "AND constraint_type = 'CHECK'")
    assert query(db, "SELECT index_name FROM duckdb_indexes() WHERE table_name = 'cases'") == [("cases_status_idx",)]
    assert query(db, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%gw_rebuild'") == [(0,)]
    assert not run_module(duckdb_table, params)["changed"]


def test_failed_rebuild_rolls_back(db):
    table = _cases(db)
    before = query(db, "SELECT sql FROM duckdb_tables() WHERE table_name = 'cases'")
    params = params_for(table, db)
    params["check_constraints"] = ["budget > 15"]  # row 1 has 10.5
    result = run_module(duckdb_table, dict(params, allow_rebuild=True))
    assert result["failed"] and "nothing was changed" in result["msg"]
    assert query(db, "SELECT sql FROM duckdb_tables() WHERE table_name = 'cases'") == before
    assert query(db, "SELECT count(*) FROM forensics.cases") == [(2,)]


@pytest.mark.parametrize("mutate, fragment", [
    (lambda p: p["columns"][2].update(type="VARCHR"), "columns[2](title).type: unknown type name 'VARCHR'"),
    (lambda p: p["columns"][8].update(check="budget >= 0; DROP TABLE x"), "columns[8](budget).check: must be a single SQL expression"),
    (lambda p: p["columns"][8].update(check="nosuchcol > 0"), "DuckDB rejects the spec"),
    (lambda p: p["columns"][3].update(default="'unknown-status'"), "columns[3](status).default: DuckDB cannot use 'unknown-status'"),
    (lambda p: p.update(indexes=[{"columns": ["nope"]}]), "indexes[0].columns[0]: column 'nope' is not defined"),
    (lambda p: p.update(schema="_groundwork"), "reserved"),
    (lambda p: p["columns"].append({"name": "x"}), "missing required arguments: type"),
])
def test_bad_spec_fails_naming_the_key_and_changes_nothing(db, mutate, fragment):
    table = _cases(db)
    before = digest(db)
    params = params_for(table, db)
    mutate(params)
    result = run_module(duckdb_table, params)
    assert result["failed"]
    assert fragment in result["msg"]
    assert digest(db) == before


def test_schema_named_like_the_database(tmp_path):
    from ansible_collections.groundwork.platform.plugins.modules import duckdb_database

    path = str(tmp_path / "forensics.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB"})
    for table in forensics_tables():
        assert run_module(duckdb_table, params_for(table, path))["changed"]
    params = params_for(forensics_tables()[0], path)
    params["columns"].append({"name": "extra", "type": "INTEGER"})
    result = run_module(duckdb_table, params)
    assert result["changed"], result.get("msg")
    assert not run_module(duckdb_table, params)["changed"]


def test_schema_module(db):
    created = run_module(duckdb_schema, {"database": db, "name": "staging"}, diff=True)
    assert created["changed"] and created["changes"] == ["create schema staging"]
    assert not run_module(duckdb_schema, {"database": db, "name": "staging"})["changed"]
    run_module(duckdb_table, {"database": db, "schema": "staging", "name": "t", "columns": [{"name": "a", "type": "int"}]})
    refused = run_module(duckdb_schema, {"database": db, "name": "staging", "state": "absent"})
    assert refused["failed"] and "staging.t" in refused["msg"]
    check = run_module(duckdb_schema, {"database": db, "name": "staging", "state": "absent",
                                       "allow_destructive": True}, check_mode=True)
    assert check["changed"]
    assert query(db, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'staging'") == [(1,)]
    dropped = run_module(duckdb_schema, {"database": db, "name": "staging", "state": "absent", "allow_destructive": True})
    assert dropped["changed"]
    assert query(db, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'staging'") == [(0,)]
    run_module(duckdb_schema, {"database": db, "name": "empty"})
    assert run_module(duckdb_schema, {"database": db, "name": "empty", "state": "absent"})["changed"]
    for reserved in ("_groundwork",):
        assert run_module(duckdb_schema, {"database": db, "name": reserved})["failed"]
    assert run_module(duckdb_schema, {"database": db, "name": "main", "state": "absent"})["failed"]
