# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""duckdb_validate against real database files."""

from __future__ import annotations

import hashlib
import pathlib

import duckdb
import pytest

from ansible_collections.groundwork.platform.plugins.modules import duckdb_table, duckdb_validate
from test_duckdb_harness import create_database, run_module


@pytest.fixture
def db(tmp_path):
    return create_database(tmp_path)


COLUMNS = [
    {"name": "id", "type": "INTEGER", "primary_key": True},
    {"name": "status", "type": "VARCHAR", "nullable": False},
    {"name": "score", "type": "DOUBLE"},
    {"name": "at", "type": "TIMESTAMPTZ"},
]


@pytest.fixture
def filled(db):
    assert run_module(duckdb_table, {"database": db, "name": "items", "columns": COLUMNS})["changed"]
    conn = duckdb.connect(db)
    conn.execute("INSERT INTO items VALUES (1, 'open', 0.5, now()), (2, 'closed', 0.9, now()), "
                 "(3, 'open', NULL, now() - INTERVAL 3 DAY), (4, 'weird', 7.5, NULL)")
    conn.close()
    return db


GOOD = [
    {"type": "row_count", "min": 1, "max": 10},
    {"type": "unique", "column": "id"},
    {"type": "not_null", "columns": ["id", "status"]},
    {"type": "range", "column": "score", "min": 0, "max": 10},
    {"type": "allowed_values", "column": "status", "values": ["open", "closed", "weird"]},
    {"type": "expression", "expression": "score IS NULL OR score >= 0"},
    {"type": "freshness", "column": "at", "max_age_seconds": 3600},
]


def test_validation_passes(filled):
    result = run_module(duckdb_validate, {"database": filled, "table": "items", "columns": COLUMNS, "checks": GOOD})
    assert not result.get("failed"), result.get("msg")
    assert result["passed"] and result["failed_checks"] == [] and not result["changed"]
    assert result["rows"] == 4
    assert [r["name"] for r in result["report"]] == [
        "columns", "row_count", "unique(id)", "not_null(id)", "not_null(status)", "range(score)",
        "allowed_values(status)", "expression(score IS NULL OR score >= 0)", "freshness(at)"]
    assert all(r["passed"] for r in result["report"])


def test_validation_fails_with_a_report(filled):
    checks = [
        {"type": "range", "column": "score", "min": 0, "max": 1},
        {"type": "allowed_values", "column": "status", "values": ["open", "closed"]},
        {"type": "not_null", "column": "score", "severity": "warning"},
        {"type": "row_count", "min": 1},
    ]
    result = run_module(duckdb_validate, {"database": filled, "table": "items", "checks": checks})
    assert result["failed"]
    assert "validation of main.items failed" in result["msg"]
    assert "range(score): 1 row of score outside [0, 1]" in result["msg"]
    assert "allowed_values(status): 1 row of status with a value not allowed (e.g. weird)" in result["msg"]
    assert result["failed"] is True and result["passed"] is False
    assert result["warning_checks"] == ["not_null(score)"]
    assert any("not_null(score)" in w for w in result["warnings"])
    report = dict((r["name"], r) for r in result["report"])
    assert report["range(score)"]["observed"] == {"failures": 1, "min": "0.5", "max": "7.5"}


def test_fail_on_error_false_returns_the_verdict(filled):
    result = run_module(duckdb_validate, {"database": filled, "table": "items", "fail_on_error": False,
                                          "checks": [{"type": "row_count", "max": 2}]})
    assert "msg" not in result
    assert result["passed"] is False and result["failed_checks"] == ["row_count"]
    assert "failed" not in result  # the task itself succeeds


def test_spec_mismatch_and_missing_columns(filled):
    columns = [dict(c) for c in COLUMNS]
    columns[2]["type"] = "DECIMAL(5,2)"
    columns.append({"name": "owner", "type": "VARCHAR"})
    result = run_module(duckdb_validate, {"database": filled, "table": "items", "columns": columns,
                                          "checks": [{"type": "not_null", "column": "ghost"}], "fail_on_error": False})
    report = dict((r["name"], r) for r in result["report"])
    assert report["columns"]["observed"]["problems"] == [
        "column score is DOUBLE, spec says DECIMAL(5,2)", "missing column owner"]
    assert not report["not_null(ghost)"]["passed"]
    assert report["not_null(ghost)"]["message"] == "column ghost not in main.items"
    strict = run_module(duckdb_validate, {"database": filled, "table": "items", "columns": COLUMNS[:3],
                                          "strict_columns": True, "fail_on_error": False})
    assert strict["report"][0]["observed"]["problems"] == ["column at is not in the spec"]


def test_missing_table(db):
    result = run_module(duckdb_validate, {"database": db, "table": "nope", "checks": [{"type": "row_count", "min": 1}]})
    assert result["failed"] and "table main.nope does not exist" in result["msg"]
    check = run_module(duckdb_validate, {"database": db, "table": "nope"}, check_mode=True)
    assert not check.get("failed") and check.get("skipped")


def test_bad_checks_fail_before_reading(filled):
    result = run_module(duckdb_validate, {"database": filled, "table": "items",
                                          "checks": [{"type": "range", "column": "score"}]})
    assert result["failed"] and "checks[0]: a range check needs min, max or both" in result["msg"]
    result = run_module(duckdb_validate, {"database": filled, "table": "items",
                                          "columns": [{"name": "a", "type": "nosuchtype"}]})
    assert result["failed"] and "columns[0](a).type: unknown type name 'nosuchtype'" in result["msg"]


def test_validation_is_read_only_in_and_out_of_check_mode(filled):
    before = hashlib.sha256(pathlib.Path(filled).read_bytes()).hexdigest()
    for check_mode in (False, True):
        result = run_module(duckdb_validate, {"database": filled, "table": "items", "checks": GOOD},
                            check_mode=check_mode)
        assert result["passed"] and not result["changed"]
    assert hashlib.sha256(pathlib.Path(filled).read_bytes()).hexdigest() == before
