#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_validate
short_description: Validate a DuckDB table against its spec and data checks
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Checks that a table exists, that its columns match a spec (names, types, NULL-ability), and
    runs data checks - row count bounds, NULLs, value ranges, uniqueness, allowed values, arbitrary
    SQL conditions and freshness - then returns a report with one line per check.
  - All checks except C(unique) are computed in a single aggregate query (one scan of the table);
    each C(unique) check runs one C(GROUP BY) query.
  - Opens the database read-only and never changes anything, so it behaves the same in check mode.
  - By default the task fails when a check of severity V(error) fails (O(fail_on_error)); checks of
    severity V(warning) are only reported.
extends_documentation_fragment:
  - groundwork.platform.duckdb
attributes:
  check_mode:
    support: full
    description: Runs the same read-only checks.
  diff_mode:
    support: none
    description: Validation changes nothing, so there is nothing to diff.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the database file lives.
options:
  table:
    description:
      - Table to validate.
    type: str
    required: true
  schema:
    description:
      - Schema of O(table).
    type: str
    default: main
  columns:
    description:
      - The table's column spec, in the format of M(groundwork.platform.duckdb_table)'s
        O(groundwork.platform.duckdb_table#module:columns) (keys C(name), C(type), C(nullable),
        C(default), C(primary_key), C(unique), C(check)). Names, types and NULL-ability are compared.
    type: list
    elements: dict
  strict_columns:
    description:
      - With O(columns), also fail when the table has columns the spec does not list.
    type: bool
    default: false
  checks:
    description:
      - Data checks. Each has a C(type) and the keys of that type; all take C(name) (default derived
        from the type and column), C(severity) (V(error) or V(warning), default V(error)),
        C(max_failures) (offending rows tolerated, default 0) and C(max_failure_percent) (offending
        rows tolerated as a percentage of the table's rows; the larger tolerance applies).
      - "C(row_count): C(min), C(max) - the table's row count."
      - "C(not_null): C(column) or C(columns) - no NULLs (one result per column)."
      - "C(unique): C(column) or C(columns) - no duplicate key (rows with a NULL key are ignored)."
      - "C(range): C(column), C(min), C(max) - values within bounds; bounds may be numbers or
        strings such as V(2020-01-01) for dates and timestamps (NULLs ignored)."
      - "C(allowed_values): C(column), C(values) - only these values (NULLs ignored)."
      - "C(expression): C(expression) - a SQL condition every row must satisfy, e.g.
        V(closed_at IS NULL OR closed_at >= opened_at) (a NULL result passes, as in CHECK)."
      - "C(freshness): C(column), C(max_age_seconds) - the newest timestamp is recent enough
        (values of a C(TIMESTAMP) column without time zone are taken as UTC)."
    type: list
    elements: dict
    default: []
  fail_on_error:
    description:
      - Fail the task when a check of severity V(error) fails. With V(false) the task succeeds and
        the verdict is in RV(passed) and RV(report).
    type: bool
    default: true
seealso:
  - module: groundwork.platform.duckdb_table
  - module: groundwork.platform.duckdb_load
"""

EXAMPLES = r"""
- name: Validate the events table
  groundwork.platform.duckdb_validate:
    database: /var/lib/duckdb/forensics.duckdb
    schema: forensics
    table: events
    columns:
      - {name: event_id, type: UUID, primary_key: true}
      - {name: case_id, type: INTEGER, nullable: false}
      - {name: occurred_at, type: TIMESTAMPTZ, nullable: false}
    checks:
      - {type: row_count, min: 1}
      - {type: not_null, columns: [event_id, case_id, occurred_at]}
      - {type: unique, column: event_id}
      - {type: range, column: severity, min: 1, max: 5}
      - {type: range, column: occurred_at, min: "2015-01-01", max: "2030-01-01"}
      - {type: allowed_values, column: source, values: [edr, firewall, proxy, mail, auth]}
      - {type: expression, name: hash_format, expression: "sha256 IS NULL OR length(sha256) = 64"}
      - {type: freshness, column: occurred_at, max_age_seconds: 86400, severity: warning}

- name: Report only, decide later
  groundwork.platform.duckdb_validate:
    database: /var/lib/duckdb/forensics.duckdb
    schema: forensics
    table: cases
    checks:
      - {type: row_count, min: 1, max: 1000000}
    fail_on_error: false
  register: cases_report
"""

RETURN = r"""
passed:
  description: Whether every check of severity V(error) passed.
  returned: always
  type: bool
rows:
  description: Rows in the table.
  returned: when the table exists
  type: int
failed_checks:
  description: Names of the failed checks of severity V(error).
  returned: always
  type: list
  elements: str
  sample: ["unique(event_id)"]
warning_checks:
  description: Names of the failed checks of severity V(warning) (also reported as warnings).
  returned: always
  type: list
  elements: str
report:
  description: One entry per check.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
    type:
      description: Check type (V(table), V(columns), V(row_count), V(not_null)...).
      type: str
    columns:
      description: Columns the check reads.
      type: list
      elements: str
    severity:
      description: V(error) or V(warning).
      type: str
    passed:
      description: Whether the check passed.
      type: bool
    observed:
      description: 'What was measured, e.g. C({failures: 3, min: "0", max: "9"}).'
      type: dict
    expected:
      description: The bounds it was compared with.
      type: dict
    message:
      description: One-line explanation.
      type: str
  sample:
    - {name: "unique(event_id)", type: unique, columns: [event_id], severity: error, passed: true,
       observed: {duplicate_keys: 0, duplicate_rows: 0}, expected: {max_failures: 0},
       message: "0 duplicate key values over 0 rows in (event_id)"}
seconds:
  description: Seconds spent running the queries.
  returned: always
  type: float
skipped:
  description:
    - V(true) in check mode when the database or the table does not exist yet (a previous task would
      create it); Ansible then shows the task as skipped.
  returned: in check mode, when there is nothing to validate yet
  type: bool
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_checks import (
    aggregate_query,
    check_columns,
    compare_columns,
    evaluate_check,
    parse_checks,
    summarize,
    unique_query,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    SpecError,
    parse_table_spec,
)


def argument_spec():
    return common.database_argument_spec(
        table=dict(type="str", required=True),
        schema=dict(type="str", default="main"),
        columns=dict(type="list", elements="dict"),
        strict_columns=dict(type="bool", default=False),
        checks=dict(type="list", elements="dict", default=[]),
        fail_on_error=dict(type="bool", default=True),
    )


def validate(conn, schema, table, spec_columns, strict, checks):
    """Run everything against an open connection; returns (rows, results)."""
    results = []
    state = common.introspect_table(conn, schema, table)
    if state is None:
        results.append({"name": "table", "type": "table", "columns": [], "severity": "error", "passed": False,
                        "observed": {"exists": False}, "expected": {"exists": True},
                        "message": "table %s.%s does not exist" % (schema, table)})
        return None, results
    schema, table = state["schema"], state["name"]
    catalog = common.catalog_name(conn)
    if spec_columns is not None:
        results.append(compare_columns(spec_columns, state["columns"], strict))
    present = set(c["name"].lower() for c in state["columns"])
    runnable, observed = [], {}
    for i, check in enumerate(checks):
        missing = [c for c in check_columns(check) if c.lower() not in present]
        if missing:
            observed[i] = {"error": "column%s %s not in %s.%s" % (
                "s" if len(missing) > 1 else "", ", ".join(missing), schema, table)}
        else:
            runnable.append(i)
            observed[i] = {}
    aggregate = [checks[i] for i in runnable if checks[i]["type"] != "unique"]
    sql, fields = aggregate_query(schema, table, aggregate, catalog)
    index_map = [i for i in runnable if checks[i]["type"] != "unique"]
    try:
        row = conn.execute(sql).fetchone()
    except Exception as exc:
        raise common.DuckDBModuleError("validation query failed: %s (query: %s)" % (common.error_text(exc), sql))
    rows = int(row[0])
    for (alias, local_index, field), value in zip(fields, row):
        if local_index >= 0:
            observed[index_map[local_index]][field] = value
    for i in runnable:
        if checks[i]["type"] == "unique":
            query = unique_query(schema, table, checks[i], catalog)
            keys, dup_rows = conn.execute(query).fetchone()
            observed[i] = {"duplicate_keys": keys, "duplicate_rows": dup_rows}
    for i, check in enumerate(checks):
        results.append(evaluate_check(check, observed[i], rows))
    return rows, results


def run(module):
    common.require_duckdb(module)
    p = module.params
    path = os.path.abspath(p["database"])
    result = dict(changed=False, passed=False, failed_checks=[], warning_checks=[], report=[], seconds=0.0)
    try:
        checks = parse_checks(p["checks"])
        spec_columns = None
        if p["columns"] is not None:
            spec_columns = parse_table_spec(
                dict(name=p["table"], schema=p["schema"], columns=p["columns"]))["columns"]
    except SpecError as exc:
        module.fail_json(msg=str(exc), **result)

    if not os.path.exists(path):
        if module.check_mode:
            module.warn("database %s does not exist yet; nothing to validate in check mode" % path)
            result["passed"] = True
            result["skipped"] = True
            return result
        module.fail_json(msg="database %s does not exist" % path, **result)

    started = time.perf_counter()
    try:
        conn = common.connect(path, read_only=True)
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    try:
        rows, results = validate(conn, p["schema"], p["table"], spec_columns, p["strict_columns"], checks)
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    finally:
        conn.close()
    result["seconds"] = round(time.perf_counter() - started, 6)
    if rows is not None:
        result["rows"] = rows
    verdict = summarize(results)
    result.update(report=results, passed=verdict["passed"], failed_checks=verdict["failed"],
                  warning_checks=verdict["warnings"])
    if check_mode_missing_table(module, results):
        module.warn("table %s.%s does not exist yet (check mode)" % (p["schema"], p["table"]))
        result["passed"] = True
        result["skipped"] = True
        return result
    for r in results:
        if not r["passed"] and r["severity"] == "warning":
            module.warn("check %s: %s" % (r["name"], r["message"]))
    if not verdict["passed"] and p["fail_on_error"]:
        lines = ["%s: %s" % (r["name"], r["message"]) for r in results if not r["passed"] and r["severity"] == "error"]
        module.fail_json(msg="validation of %s.%s failed: %s" % (p["schema"], p["table"], "; ".join(lines)),
                         **result)
    return result


def check_mode_missing_table(module, results):
    """In check mode a table that a previous (simulated) task would create is not an error."""
    return module.check_mode and results and results[0]["type"] == "table" and not results[0]["passed"]


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
