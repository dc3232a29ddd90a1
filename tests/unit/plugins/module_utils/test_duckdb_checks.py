# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation checks: parsing, SQL generation, evaluation."""

from __future__ import annotations

import duckdb
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_checks import (
    aggregate_query,
    compare_columns,
    evaluate_check,
    parse_checks,
    summarize,
    unique_query,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import SpecError


def test_parse_checks_names_and_expands_not_null():
    checks = parse_checks([
        {"type": "row_count", "min": 1, "max": 10},
        {"type": "not_null", "columns": ["a", "b"]},
        {"type": "unique", "columns": ["a", "b"]},
        {"type": "range", "column": "n", "min": 0},
        {"type": "allowed_values", "column": "s", "values": ["x", "y"], "severity": "warning"},
        {"type": "expression", "expression": "n >= 0", "name": "positive", "max_failures": 2},
        {"type": "freshness", "column": "ts", "max_age_seconds": 60},
    ])
    assert [c["name"] for c in checks] == [
        "row_count", "not_null(a)", "not_null(b)", "unique(a,b)", "range(n)", "allowed_values(s)",
        "positive", "freshness(ts)"]
    assert checks[5]["severity"] == "warning"
    assert checks[6]["max_failures"] == 2
    assert checks[1]["columns"] == ["a"] and checks[2]["columns"] == ["b"]


def test_parse_checks_ignores_none_values_from_ansible_suboptions():
    checks = parse_checks([{"type": "row_count", "min": 1, "max": None, "column": None, "values": None}])
    assert checks[0]["min"] == 1


@pytest.mark.parametrize("raw, fragment", [
    ({}, "checks[0].type: expected one of"),
    ({"type": "row_counts"}, "checks[0].type: expected one of allowed_values, expression, freshness"),
    ({"type": "row_count"}, "checks[0]: a row_count check needs min, max or both"),
    ({"type": "row_count", "min": -1}, "checks[0].min: expected a whole number >= 0"),
    ({"type": "row_count", "min": 5, "max": 1}, "min (5) is larger than max (1)"),
    ({"type": "row_count", "min": 1, "column": "a"}, "checks[0]: key column not valid for a row_count check"),
    ({"type": "not_null"}, "needs exactly one of column or columns"),
    ({"type": "not_null", "column": "a", "columns": ["b"]}, "needs exactly one of column or columns"),
    ({"type": "not_null", "columns": []}, "checks[0].columns: expected a non-empty list"),
    ({"type": "unique", "columns": ["a", "A"]}, "a column is listed twice"),
    ({"type": "range", "column": "a"}, "a range check needs min, max or both"),
    ({"type": "range", "column": "a", "min": [1]}, "checks[0].min: expected a number or a string"),
    ({"type": "range", "column": "a", "min": 3, "max": 2}, "min (3) is larger than max (2)"),
    ({"type": "range", "min": 3}, "checks[0].column: expected a column name"),
    ({"type": "allowed_values", "column": "a", "values": []}, "checks[0].values: expected a non-empty list"),
    ({"type": "allowed_values", "column": "a", "values": [None]}, "checks[0].values[0]: expected a scalar"),
    ({"type": "expression", "expression": "a > 0; drop table t"}, "checks[0].expression: must be a single SQL"),
    ({"type": "freshness", "column": "ts"}, "checks[0].max_age_seconds: required"),
    ({"type": "row_count", "min": 1, "severity": "fatal"}, "checks[0].severity: expected error or warning"),
    ({"type": "row_count", "min": 1, "max_failures": "x"}, "checks[0].max_failures: expected a whole number"),
])
def test_parse_checks_errors_name_the_key(raw, fragment):
    with pytest.raises(SpecError) as err:
        parse_checks([raw])
    assert fragment in str(err.value)


def test_parse_checks_rejects_duplicate_names_and_non_lists():
    with pytest.raises(SpecError, match="duplicate check name 'row_count'"):
        parse_checks([{"type": "row_count", "min": 1}, {"type": "row_count", "max": 5}])
    with pytest.raises(SpecError, match="checks: expected a list"):
        parse_checks({"type": "row_count"})
    assert parse_checks(None) == []


def test_aggregate_query_sql():
    checks = parse_checks([
        {"type": "not_null", "column": "a"},
        {"type": "range", "column": "n", "min": 0, "max": 10},
        {"type": "allowed_values", "column": "s", "values": ["x", "it's"]},
        {"type": "expression", "expression": "n < 100"},
    ])
    sql, fields = aggregate_query("main", "t", checks, catalog="db")
    assert sql.startswith("SELECT count(*) AS rows, count(*) FILTER (WHERE \"a\" IS NULL) AS c0_failures")
    assert "(WHERE \"n\" < 0 OR \"n\" > 10)" in sql
    assert "NOT IN ('x', 'it''s')" in sql
    assert "FILTER (WHERE NOT (n < 100)) AS c3_failures" in sql
    assert sql.endswith('FROM "db"."main"."t"')
    assert fields[0] == ("rows", -1, "rows")
    assert ("c1_min", 1, "min") in fields


def _observe(conn, checks):
    """Run the generated queries like duckdb_validate does."""
    sql, fields = aggregate_query("main", "t", [c for c in checks if c["type"] != "unique"])
    idx = [i for i, c in enumerate(checks) if c["type"] != "unique"]
    row = conn.execute(sql).fetchone()
    observed = dict((i, {}) for i in range(len(checks)))
    for (alias, local, field), value in zip(fields, row):
        if local >= 0:
            observed[idx[local]][field] = value
    for i, c in enumerate(checks):
        if c["type"] == "unique":
            keys, rows = conn.execute(unique_query("main", "t", c)).fetchone()
            observed[i] = {"duplicate_keys": keys, "duplicate_rows": rows}
    return int(row[0]), [evaluate_check(c, observed[i], int(row[0])) for i, c in enumerate(checks)]


@pytest.fixture
def conn():
    c = duckdb.connect()
    c.execute("CREATE TABLE t (id INTEGER, n INTEGER, s VARCHAR, ts TIMESTAMP, d DATE)")
    c.execute("""INSERT INTO t VALUES
        (1, 5, 'x', now()::TIMESTAMP, DATE '2024-01-01'),
        (2, 50, 'y', now()::TIMESTAMP - INTERVAL 2 DAY, DATE '2024-06-01'),
        (2, NULL, 'z', NULL, DATE '2019-01-01'),
        (NULL, 7, NULL, NULL, NULL)""")
    yield c
    c.close()


def test_checks_against_real_data(conn):
    checks = parse_checks([
        {"type": "row_count", "min": 1, "max": 3},
        {"type": "row_count", "name": "rows_ok", "min": 4},
        {"type": "not_null", "column": "n"},
        {"type": "not_null", "column": "n", "name": "n_tolerated", "max_failures": 1},
        {"type": "unique", "column": "id"},
        {"type": "range", "column": "n", "min": 0, "max": 10},
        {"type": "range", "column": "d", "min": "2020-01-01", "name": "dates"},
        {"type": "allowed_values", "column": "s", "values": ["x", "y"]},
        {"type": "expression", "expression": "n < 100", "name": "small"},
        {"type": "freshness", "column": "ts", "max_age_seconds": 3600},
        {"type": "freshness", "column": "d", "max_age_seconds": 1, "name": "stale"},
    ])
    rows, results = _observe(conn, checks)
    by = dict((r["name"], r) for r in results)
    assert rows == 4
    assert not by["row_count"]["passed"] and by["row_count"]["message"] == "4 rows, expected between 1 and 3"
    assert by["rows_ok"]["passed"]
    assert not by["not_null(n)"]["passed"] and by["not_null(n)"]["observed"]["failures"] == 1
    assert by["n_tolerated"]["passed"] and "tolerated" in by["n_tolerated"]["message"]
    assert not by["unique(id)"]["passed"]
    assert by["unique(id)"]["observed"] == {"duplicate_keys": 1, "duplicate_rows": 2}
    assert not by["range(n)"]["passed"] and by["range(n)"]["observed"]["failures"] == 1
    assert by["range(n)"]["observed"]["max"] == "50"
    assert not by["dates"]["passed"] and by["dates"]["observed"]["failures"] == 1
    assert not by["allowed_values(s)"]["passed"] and by["allowed_values(s)"]["observed"]["sample"] == ["z"]
    assert by["small"]["passed"]
    assert by["freshness(ts)"]["passed"]
    assert not by["stale"]["passed"]
    verdict = summarize(results)
    assert not verdict["passed"]
    assert "unique(id)" in verdict["failed"] and "small" not in verdict["failed"]


def test_unique_ignores_null_keys(conn):
    conn.execute("DELETE FROM t WHERE id = 2 AND n IS NULL")
    _rows, results = _observe(conn, parse_checks([{"type": "unique", "column": "id"}]))
    assert results[0]["passed"]


def test_evaluate_missing_column_and_empty_freshness():
    check = parse_checks([{"type": "freshness", "column": "ts", "max_age_seconds": 5}])[0]
    assert evaluate_check(check, {"error": "column ts not in main.t"}, 0)["passed"] is False
    result = evaluate_check(check, {"age_seconds": None}, 0)
    assert not result["passed"] and result["message"] == "no values in ts"


def test_summarize_warnings_do_not_fail():
    results = [
        {"name": "a", "passed": False, "severity": "warning"},
        {"name": "b", "passed": True, "severity": "error"},
    ]
    assert summarize(results) == {"passed": True, "failed": [], "warnings": ["a"], "total": 2}


def test_compare_columns():
    spec_cols = [
        {"name": "id", "type": "INTEGER", "nullable": False},
        {"name": "tags", "type": "VARCHAR[]", "nullable": True},
        {"name": "meta", "type": 'STRUCT("Host" VARCHAR)', "nullable": True},
        {"name": "gone", "type": "INTEGER", "nullable": True},
    ]
    actual = [
        {"name": "ID", "type": "BIGINT", "nullable": False},
        {"name": "tags", "type": "VARCHAR[]", "nullable": False},
        {"name": "meta", "type": "STRUCT(Host VARCHAR)", "nullable": True},
        {"name": "extra", "type": "INTEGER", "nullable": True},
    ]
    result = compare_columns(spec_cols, actual)
    assert not result["passed"]
    assert result["observed"]["problems"] == [
        "column id is BIGINT, spec says INTEGER",
        "column tags is NOT NULL, spec says nullable",
        "missing column gone",
    ]
    strict = compare_columns(spec_cols, actual, strict=True)
    assert "column extra is not in the spec" in strict["observed"]["problems"]
    ok = compare_columns(spec_cols[1:3], [dict(actual[1], nullable=True), actual[2]])
    assert ok["passed"] and ok["message"] == "2 columns match the spec"
