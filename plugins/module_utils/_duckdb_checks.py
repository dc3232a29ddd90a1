# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data checks for duckdb_validate: parsing, SQL generation, evaluation (pure).

A check is a mapping with a ``type`` and type-specific keys:

  row_count       min, max                      number of rows in the table
  not_null        column | columns              NULLs in a column
  unique          columns (or column)           duplicate keys (rows with a NULL key ignored)
  range           column, min, max              values outside [min, max] (NULLs ignored)
  allowed_values  column, values                values not in the list (NULLs ignored)
  expression      expression                    rows for which the SQL expression is false
  freshness       column, max_age_seconds       age of the newest value (timestamp column)

Common keys: ``name`` (default derived from type and columns), ``severity``
(``error`` fails validation, ``warning`` is only reported), ``max_failures``
(offending rows tolerated, default 0) and ``max_failure_percent`` (offending
rows tolerated as a percentage of the table's rows; the larger tolerance wins).

All checks but ``unique`` are evaluated together in one aggregate query, so a
table is scanned once; each ``unique`` check needs its own GROUP BY query.
"""

from __future__ import annotations

import math

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    SpecError,
    check_expression,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    qualified_name,
    quote_ident,
    sql_value,
    types_equal,
)

__all__ = [
    "CHECK_TYPES",
    "parse_checks",
    "check_columns",
    "aggregate_query",
    "unique_query",
    "evaluate_check",
    "compare_columns",
    "summarize",
]

_COMMON = ("type", "name", "severity", "max_failures", "max_failure_percent")
CHECK_TYPES = {
    "row_count": ("min", "max"),
    "not_null": ("column", "columns"),
    "unique": ("column", "columns"),
    "range": ("column", "min", "max"),
    "allowed_values": ("column", "values"),
    "expression": ("expression",),
    "freshness": ("column", "max_age_seconds"),
}


def _nonneg_int(value, where, default=None):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpecError("%s: expected a whole number >= 0, got %r" % (where, value))
    return value


def _bound(value, where):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError("%s: expected a number or a string (dates, timestamps), got %r" % (where, value))
    if isinstance(value, float) and (math.isnan(value) or value in (float("inf"), float("-inf"))):
        raise SpecError("%s: expected a finite number, got %r" % (where, value))
    return value


def _column_name(value, where):
    if not isinstance(value, str) or not value.strip():
        raise SpecError("%s: expected a column name, got %r" % (where, value))
    return value


def parse_checks(raw, where="checks"):
    """Validate a list of checks; returns cleaned copies with a ``name`` each.

    ``not_null`` with several ``columns`` is expanded into one check per
    column, so that each column gets its own result line.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SpecError("%s: expected a list, got %s" % (where, type(raw).__name__))
    checks = []
    names = set()
    for i, item in enumerate(raw):
        cw = "%s[%d]" % (where, i)
        if not isinstance(item, dict):
            raise SpecError("%s: expected a mapping, got %s" % (cw, type(item).__name__))
        ctype = item.get("type")
        if ctype not in CHECK_TYPES:
            raise SpecError("%s.type: expected one of %s, got %r"
                            % (cw, ", ".join(sorted(CHECK_TYPES)), ctype))
        allowed = _COMMON + CHECK_TYPES[ctype]
        unknown = sorted(str(k) for k, v in item.items() if k not in allowed and v is not None)
        if unknown:
            raise SpecError("%s: key%s %s not valid for a %s check (allowed: %s)"
                            % (cw, "s" if len(unknown) > 1 else "", ", ".join(unknown),
                               ctype, ", ".join(allowed)))
        severity = item.get("severity") or "error"
        if severity not in ("error", "warning"):
            raise SpecError("%s.severity: expected error or warning, got %r" % (cw, severity))
        percent = item.get("max_failure_percent")
        if percent is not None and (isinstance(percent, bool) or not isinstance(percent, (int, float))
                                    or not 0 <= percent <= 100):
            raise SpecError("%s.max_failure_percent: expected a number between 0 and 100, got %r" % (cw, percent))
        base = {
            "type": ctype,
            "severity": severity,
            "max_failures": _nonneg_int(item.get("max_failures"), cw + ".max_failures", 0),
            "max_failure_percent": percent,
        }
        expanded = []
        if ctype == "row_count":
            base["min"] = _nonneg_int(item.get("min"), cw + ".min")
            base["max"] = _nonneg_int(item.get("max"), cw + ".max")
            if base["min"] is None and base["max"] is None:
                raise SpecError("%s: a row_count check needs min, max or both" % cw)
            if base["min"] is not None and base["max"] is not None and base["min"] > base["max"]:
                raise SpecError("%s: min (%d) is larger than max (%d)" % (cw, base["min"], base["max"]))
            expanded.append((base, "row_count"))
        elif ctype in ("not_null", "unique"):
            column, columns = item.get("column"), item.get("columns")
            if (column is None) == (columns is None):
                raise SpecError("%s: a %s check needs exactly one of column or columns" % (cw, ctype))
            if column is not None:
                columns = [column]
            if not isinstance(columns, list) or not columns:
                raise SpecError("%s.columns: expected a non-empty list of column names" % cw)
            columns = [_column_name(c, "%s.columns[%d]" % (cw, j)) for j, c in enumerate(columns)]
            if len(set(c.lower() for c in columns)) != len(columns):
                raise SpecError("%s.columns: a column is listed twice" % cw)
            if ctype == "unique":
                check = dict(base, columns=columns)
                expanded.append((check, "unique(%s)" % ",".join(columns)))
            else:
                for c in columns:
                    expanded.append((dict(base, columns=[c]), "not_null(%s)" % c))
        elif ctype == "range":
            base["columns"] = [_column_name(item.get("column"), cw + ".column")]
            base["min"] = _bound(item.get("min"), cw + ".min")
            base["max"] = _bound(item.get("max"), cw + ".max")
            if base["min"] is None and base["max"] is None:
                raise SpecError("%s: a range check needs min, max or both" % cw)
            if (isinstance(base["min"], (int, float)) and isinstance(base["max"], (int, float))
                    and base["min"] > base["max"]):
                raise SpecError("%s: min (%r) is larger than max (%r)" % (cw, base["min"], base["max"]))
            expanded.append((base, "range(%s)" % base["columns"][0]))
        elif ctype == "allowed_values":
            base["columns"] = [_column_name(item.get("column"), cw + ".column")]
            values = item.get("values")
            if not isinstance(values, list) or not values:
                raise SpecError("%s.values: expected a non-empty list" % cw)
            for j, v in enumerate(values):
                if v is None or isinstance(v, (list, dict)):
                    raise SpecError("%s.values[%d]: expected a scalar (string, number, boolean), got %r"
                                    % (cw, j, v))
            base["values"] = list(values)
            expanded.append((base, "allowed_values(%s)" % base["columns"][0]))
        elif ctype == "expression":
            base["expression"] = check_expression(item.get("expression"), cw + ".expression")
            base["columns"] = []
            expanded.append((base, "expression(%s)" % base["expression"]))
        elif ctype == "freshness":
            base["columns"] = [_column_name(item.get("column"), cw + ".column")]
            base["max_age_seconds"] = _nonneg_int(item.get("max_age_seconds"), cw + ".max_age_seconds")
            if base["max_age_seconds"] is None:
                raise SpecError("%s.max_age_seconds: required for a freshness check" % cw)
            expanded.append((base, "freshness(%s)" % base["columns"][0]))

        for check, default_name in expanded:
            name = item.get("name")
            if name is None:
                name = default_name
            elif not isinstance(name, str) or not name.strip():
                raise SpecError("%s.name: expected a non-empty string, got %r" % (cw, name))
            elif len(expanded) > 1:
                name = "%s(%s)" % (name, check["columns"][0])
            if name in names:
                raise SpecError("%s.name: duplicate check name %r; give it a unique name" % (cw, name))
            names.add(name)
            check["name"] = name
            checks.append(check)
    return checks


def check_columns(check):
    """Columns a check reads (to report a missing column as a failed check)."""
    return list(check.get("columns") or [])


def _alias(index, field):
    return "c%d_%s" % (index, field)


def aggregate_query(schema, table, checks, catalog=None):
    """One SELECT computing every non-``unique`` check.

    Returns ``(sql, fields)`` where ``fields`` is a list of
    ``(alias, check_index, field)``: the query's output column ``alias`` is
    ``field`` of the observation for ``checks[check_index]``.  The first
    field is always the table's row count (check_index -1, field 'rows').
    """
    selects = ["count(*) AS rows"]
    fields = [("rows", -1, "rows")]

    def add(index, field, expr):
        alias = _alias(index, field)
        selects.append("%s AS %s" % (expr, alias))
        fields.append((alias, index, field))

    for i, check in enumerate(checks):
        ctype = check["type"]
        col = quote_ident(check["columns"][0]) if check.get("columns") else None
        if ctype == "not_null":
            add(i, "failures", "count(*) FILTER (WHERE %s IS NULL)" % col)
        elif ctype == "range":
            conds = []
            if check["min"] is not None:
                conds.append("%s < %s" % (col, sql_value(check["min"])))
            if check["max"] is not None:
                conds.append("%s > %s" % (col, sql_value(check["max"])))
            add(i, "failures", "count(*) FILTER (WHERE %s)" % " OR ".join(conds))
            add(i, "min", "CAST(min(%s) AS VARCHAR)" % col)
            add(i, "max", "CAST(max(%s) AS VARCHAR)" % col)
        elif ctype == "allowed_values":
            allowed = ", ".join(sql_value(v) for v in check["values"])
            cond = "%s IS NOT NULL AND %s NOT IN (%s)" % (col, col, allowed)
            add(i, "failures", "count(*) FILTER (WHERE %s)" % cond)
            add(i, "sample", "list_sort(list(DISTINCT CAST(%s AS VARCHAR)) FILTER (WHERE %s))[1:5]"
                % (col, cond))
        elif ctype == "expression":
            add(i, "failures", "count(*) FILTER (WHERE NOT (%s))" % check["expression"])
        elif ctype == "freshness":
            add(i, "age_seconds", "epoch(CAST(now() AS TIMESTAMP WITH TIME ZONE)) - epoch(max(%s))" % col)
            add(i, "newest", "CAST(max(%s) AS VARCHAR)" % col)
    return "SELECT %s FROM %s" % (", ".join(selects), qualified_name(schema, table, catalog)), fields


def unique_query(schema, table, check, catalog=None):
    """SELECT (duplicate_keys, duplicate_rows) for a ``unique`` check."""
    cols = ", ".join(quote_ident(c) for c in check["columns"])
    not_null = " AND ".join("%s IS NOT NULL" % quote_ident(c) for c in check["columns"])
    return (
        "SELECT count(*) AS duplicate_keys, coalesce(sum(n), 0) AS duplicate_rows FROM "
        "(SELECT count(*) AS n FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1)"
        % (qualified_name(schema, table, catalog), not_null, cols)
    )


def _result(check, passed, observed, expected, message):
    return {
        "name": check["name"],
        "type": check["type"],
        "columns": check_columns(check),
        "severity": check["severity"],
        "passed": bool(passed),
        "observed": observed,
        "expected": expected,
        "message": message,
    }


def evaluate_check(check, observed, rows):
    """Decide pass/fail for one check from its observed values.

    ``observed`` holds the fields the queries produced for this check
    (``failures``, ``min``/``max``, ``sample``, ``duplicate_keys``...),
    ``rows`` is the table's row count.  ``observed`` may instead hold
    ``error`` (e.g. a missing column), which always fails the check.
    """
    if observed.get("error"):
        return _result(check, False, {"error": observed["error"]}, None, observed["error"])
    ctype = check["type"]
    tolerance = check["max_failures"]
    if check.get("max_failure_percent") is not None:
        tolerance = max(tolerance, int(rows * check["max_failure_percent"] / 100.0))
    if ctype == "row_count":
        lo, hi = check["min"], check["max"]
        passed = (lo is None or rows >= lo) and (hi is None or rows <= hi)
        expected = {"min": lo, "max": hi}
        bounds = "between %s and %s" % (lo if lo is not None else "0", hi if hi is not None else "any")
        message = "%d rows, expected %s" % (rows, bounds)
        return _result(check, passed, {"rows": rows}, expected, message)
    if ctype == "unique":
        keys = int(observed.get("duplicate_keys") or 0)
        dup_rows = int(observed.get("duplicate_rows") or 0)
        passed = keys <= tolerance
        message = "%d duplicate key value%s over %d rows in (%s)" % (
            keys, "" if keys == 1 else "s", dup_rows, ", ".join(check["columns"]))
        return _result(check, passed, {"duplicate_keys": keys, "duplicate_rows": dup_rows},
                       {"max_failures": tolerance}, message)
    if ctype == "freshness":
        age = observed.get("age_seconds")
        limit = check["max_age_seconds"]
        if age is None:
            return _result(check, False, {"age_seconds": None, "newest": None},
                           {"max_age_seconds": limit}, "no values in %s" % check["columns"][0])
        age = float(age)
        passed = age <= limit
        message = "newest %s is %s (%.0f s old, limit %d s)" % (
            check["columns"][0], observed.get("newest"), age, limit)
        return _result(check, passed, {"age_seconds": round(age, 3), "newest": observed.get("newest")},
                       {"max_age_seconds": limit}, message)

    failures = int(observed.get("failures") or 0)
    passed = failures <= tolerance
    obs = {"failures": failures}
    expected = {"max_failures": tolerance}
    if ctype == "not_null":
        message = "%d NULL value%s in %s" % (failures, "" if failures == 1 else "s", check["columns"][0])
    elif ctype == "range":
        obs["min"] = observed.get("min")
        obs["max"] = observed.get("max")
        expected.update({"min": check["min"], "max": check["max"]})
        message = "%d row%s of %s outside [%s, %s] (observed min %s, max %s)" % (
            failures, "" if failures == 1 else "s", check["columns"][0],
            check["min"] if check["min"] is not None else "-inf",
            check["max"] if check["max"] is not None else "+inf",
            obs["min"], obs["max"])
    elif ctype == "allowed_values":
        obs["sample"] = list(observed.get("sample") or [])
        expected["values"] = check["values"]
        message = "%d row%s of %s with a value not allowed%s" % (
            failures, "" if failures == 1 else "s", check["columns"][0],
            (" (e.g. %s)" % ", ".join(obs["sample"])) if obs["sample"] else "")
    else:  # expression
        plural = "" if failures == 1 else "s"
        message = "%d row%s where %s is false" % (failures, plural, check["expression"])
    if failures and tolerance and passed:
        message += " (tolerated: max_failures %d)" % tolerance
    return _result(check, passed, obs, expected, message)


def summarize(results):
    """Overall verdict: failed error-severity checks fail, warnings do not."""
    failed = [r["name"] for r in results if not r["passed"] and r["severity"] == "error"]
    warnings = [r["name"] for r in results if not r["passed"] and r["severity"] == "warning"]
    return {
        "passed": not failed,
        "failed": failed,
        "warnings": warnings,
        "total": len(results),
    }


def compare_columns(spec_columns, actual_columns, strict=False):
    """Compare a table's columns with the columns of its spec.

    ``spec_columns`` come from parse_table_spec (normalised types),
    ``actual_columns`` from introspection.  Returns a check result named
    ``columns``: missing columns, type or NULL-ability differences, and (with
    ``strict``) columns the spec does not list all fail it.
    """
    actual = dict((c["name"].lower(), c) for c in actual_columns)
    wanted = set()
    problems = []
    for column in spec_columns:
        key = column["name"].lower()
        wanted.add(key)
        current = actual.get(key)
        if current is None:
            problems.append("missing column %s" % column["name"])
            continue
        if not types_equal(current["type"], column["type"]):
            problems.append("column %s is %s, spec says %s" % (column["name"], current["type"], column["type"]))
        if current["nullable"] != column["nullable"]:
            problems.append("column %s is %s, spec says %s" % (
                column["name"], "nullable" if current["nullable"] else "NOT NULL",
                "nullable" if column["nullable"] else "NOT NULL"))
    if strict:
        for key, current in sorted(actual.items()):
            if key not in wanted:
                problems.append("column %s is not in the spec" % current["name"])
    check = {"name": "columns", "type": "columns", "columns": [c["name"] for c in spec_columns],
             "severity": "error"}
    message = "; ".join(problems) if problems else "%d column%s match the spec" % (
        len(spec_columns), "" if len(spec_columns) == 1 else "s")
    return _result(check, not problems, {"problems": problems}, {"strict": strict}, message)
