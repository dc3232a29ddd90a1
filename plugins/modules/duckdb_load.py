#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_load
short_description: Bulk-load CSV, Parquet or JSON files into a DuckDB table
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Loads files that are on the managed host into an existing table, each with one
    INSERT INTO table BY NAME SELECT ... FROM read_csv/read_parquet/read_json(file) statement,
    which DuckDB executes in vectorised batches (never row by row). Columns are matched by name;
    the file's column order does not matter.
  - Before anything is written, every file is checksummed and its columns are read (DuckDB sniffs
    a sample) and compared with the table - a file with a column the table lacks, or without a
    C(NOT NULL) column that has no default, fails the task naming the file and the columns. For CSV,
    the table's column types are passed to the reader so that values such as V(00123) stay text in
    a C(VARCHAR) column.
  - All files of a task load in one transaction together with their ledger entries; if one fails,
    nothing is loaded.
  - "Idempotency: every load is recorded in C(_groundwork.load_ledger) (path, SHA-256, size, rows,
    seconds, mode, batch, time). With O(mode=skip_if_loaded) (the default) a file whose content was
    already loaded into the table is skipped, whatever its path. O(mode=replace) empties the table
    and loads the files, unless the table already holds exactly these files from an earlier
    replace (same contents, same row count). O(mode=append) always loads (not idempotent)."
  - Returns rows loaded, seconds and rows per second, overall and per file.
extends_documentation_fragment:
  - groundwork.platform.duckdb
attributes:
  check_mode:
    support: full
    description:
      - Checksums the files, reads the ledger and the files' columns, and reports which files
        would be loaded or skipped; loads nothing (so no row counts).
  diff_mode:
    support: none
    description: Loads are reported as row counts and files, not as a diff.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the database file lives.
options:
  table:
    description:
      - Table to load into. It must exist (see M(groundwork.platform.duckdb_table)).
    type: str
    required: true
  schema:
    description:
      - Schema of O(table).
    type: str
    default: main
  src:
    description:
      - Files to load, on the managed host. Each item is a path or a glob pattern
        (V(/srv/exports/events-*.parquet)); matches are loaded in sorted order. A pattern that matches
        nothing fails the task.
    type: list
    elements: path
    required: true
  format:
    description:
      - File format. V(auto) picks it from the extension (C(.csv), C(.tsv), C(.parquet), C(.pq),
        C(.json), C(.ndjson), C(.jsonl), optionally compressed C(.gz)).
    type: str
    choices: [auto, csv, parquet, json]
    default: auto
  mode:
    description:
      - V(skip_if_loaded) loads only files whose content is not yet in the table.
      - V(replace) makes the table hold exactly these files (skipped when it already does).
      - V(append) loads every file every time.
    type: str
    choices: [append, replace, skip_if_loaded]
    default: skip_if_loaded
  force:
    description:
      - Load even when the ledger says the files are already loaded (with O(mode=replace), reload).
    type: bool
    default: false
  reader_options:
    description:
      - 'Options passed to the DuckDB reader function, e.g. C({delim: ";", header: true,
        dateformat: "%d.%m.%Y"}) for C(read_csv) or C({format: newline_delimited}) for C(read_json).'
      - Values may be strings, numbers, booleans, lists or mappings.
    type: dict
    default: {}
  ignore_extra_columns:
    description:
      - Skip file columns that the table does not have instead of failing.
    type: bool
    default: false
seealso:
  - module: groundwork.platform.duckdb_table
  - module: groundwork.platform.duckdb_validate
"""

EXAMPLES = r"""
- name: Load the day's events (each file only once)
  groundwork.platform.duckdb_load:
    database: /var/lib/duckdb/forensics.duckdb
    schema: forensics
    table: events
    src:
      - /srv/exports/events-*.parquet
  register: events_load

- name: Show the throughput
  ansible.builtin.debug:
    msg: "{{ events_load.rows_loaded }} rows in {{ events_load.seconds }} s ({{ events_load.rows_per_second }} rows/s)"

- name: Make the cases table hold exactly this CSV export
  groundwork.platform.duckdb_load:
    database: /var/lib/duckdb/forensics.duckdb
    schema: forensics
    table: cases
    src: [/srv/exports/cases.csv]
    mode: replace
    reader_options:
      delim: ","
      header: true
"""

RETURN = r"""
rows_loaded:
  description: Rows inserted by this task (0 in check mode).
  returned: always
  type: int
  sample: 100000
seconds:
  description:
    - Seconds from the start of the load transaction until its rows are durably in the database
      file - the INSERT statements, the ledger, the commit and a checkpoint. (Checksums and column
      sniffing before the transaction are not included; see RV(checksum_seconds).)
  returned: always
  type: float
  sample: 0.82
rows_per_second:
  description: RV(rows_loaded) divided by RV(seconds); null when nothing was loaded.
  returned: always
  type: float
  sample: 121951.2
insert_seconds:
  description: Seconds spent in the INSERT statements alone (reading, converting and inserting rows).
  returned: when files were loaded
  type: float
  sample: 0.41
insert_rows_per_second:
  description: RV(rows_loaded) divided by RV(insert_seconds).
  returned: when files were loaded
  type: float
  sample: 243902.4
checksum_seconds:
  description: Seconds spent computing the files' SHA-256.
  returned: always
  type: float
truncated:
  description: Whether the table was (or would be) emptied first (O(mode=replace)).
  returned: always
  type: bool
batch_id:
  description: Identifier of this load in the ledger.
  returned: when files were loaded
  type: str
table_rows:
  description: Rows in the table after the task (before it, in check mode).
  returned: when the table exists
  type: int
files:
  description: One entry per file.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path.
      type: str
    sha256:
      description: SHA-256 of the file's content.
      type: str
    format:
      description: The format used to read it.
      type: str
    status:
      description: V(loaded), V(skipped) or V(would_load) (check mode).
      type: str
    reason:
      description: Why it was skipped.
      type: str
    rows:
      description: Rows loaded from the file.
      type: int
    seconds:
      description: Seconds spent in its INSERT statement.
      type: float
    rows_per_second:
      description: Its INSERT rate.
      type: float
"""

import glob
import hashlib
import os
import time
import uuid

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_load import (
    LEDGER_TABLE,
    describe_sql,
    detect_format,
    insert_sql,
    ledger_insert_sql,
    ledger_table_sql,
    match_columns,
    plan_load,
    reader_sql,
    rows_per_second,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    META_SCHEMA,
    SpecError,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    qualified_name,
)


def argument_spec():
    return common.database_argument_spec(
        table=dict(type="str", required=True),
        schema=dict(type="str", default="main"),
        src=dict(type="list", elements="path", required=True),
        format=dict(type="str", default="auto", choices=["auto", "csv", "parquet", "json"]),
        mode=dict(type="str", default="skip_if_loaded", choices=["append", "replace", "skip_if_loaded"]),
        force=dict(type="bool", default=False),
        reader_options=dict(type="dict", default={}),
        ignore_extra_columns=dict(type="bool", default=False),
    )


def expand_sources(patterns):
    """Paths for the src items, sorted per pattern; raises SpecError naming the item."""
    files = []
    seen = set()
    if not patterns:
        raise SpecError("src: at least one file is required")
    for i, pattern in enumerate(patterns):
        if any(ch in pattern for ch in "*?["):
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matches:
                raise SpecError("src[%d]: no file matches %s" % (i, pattern))
        else:
            if not os.path.isfile(pattern):
                raise SpecError("src[%d]: %s is not a file (or does not exist)" % (i, pattern))
            matches = [pattern]
        for match in matches:
            full = os.path.abspath(match)
            if full not in seen:
                seen.add(full)
                files.append(full)
    return files


def sha256_file(path, chunk=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def read_ledger(conn, schema, table):
    if not common.meta_table_exists(conn, LEDGER_TABLE):
        return []
    rows = conn.execute(
        "SELECT batch_id, file_path, sha256, mode, rows FROM %s WHERE schema_name = ? AND table_name = ? "
        "ORDER BY loaded_at, rowid" % qualified_name(META_SCHEMA, LEDGER_TABLE, common.catalog_name(conn)),
        [schema, table]).fetchall()
    return [dict(batch_id=r[0], file_path=r[1], sha256=r[2], mode=r[3], rows=r[4]) for r in rows]


def run(module):
    common.require_duckdb(module)
    p = module.params
    path = os.path.abspath(p["database"])
    label = "%s.%s" % (p["schema"], p["table"])
    result = dict(changed=False, rows_loaded=0, seconds=0.0, rows_per_second=None, checksum_seconds=0.0,
                  truncated=False, files=[])

    # 1. files, formats, checksums: all before opening the database
    try:
        paths = expand_sources(p["src"])
        files = []
        started = time.time()
        for fpath in paths:
            files.append(dict(path=fpath, format=detect_format(fpath, p["format"]),
                              sha256=sha256_file(fpath), bytes=os.path.getsize(fpath)))
        result["checksum_seconds"] = round(time.time() - started, 6)
        # render the reader once per format to validate reader_options early
        for fmt in set(f["format"] for f in files):
            reader_sql(fmt, p["reader_options"])
    except (SpecError, IOError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)

    if not os.path.exists(path):
        if module.check_mode:
            module.warn("database %s does not exist yet; every file would be loaded" % path)
            for f in files:
                result["files"].append(dict(path=f["path"], sha256=f["sha256"], format=f["format"],
                                            status="would_load"))
            result["changed"] = bool(files)
            return result
        module.fail_json(msg="database %s does not exist; create it with "
                             "groundwork.platform.duckdb_database first" % path, **result)

    warnings = []
    try:
        conn = common.connect(path, read_only=module.check_mode, warnings=warnings)
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    try:
        found = common.find_table(conn, p["schema"], p["table"])
        if found is None:
            if module.check_mode:
                module.warn("table %s does not exist yet; every file would be loaded" % label)
                for f in files:
                    result["files"].append(dict(path=f["path"], sha256=f["sha256"], format=f["format"],
                                                status="would_load"))
                result["changed"] = bool(files)
                return result
            module.fail_json(msg="table %s does not exist in %s; create it with "
                                 "groundwork.platform.duckdb_table first" % (label, path), **result)
        schema, table = found
        catalog = common.catalog_name(conn)
        state = common.introspect_table(conn, schema, table)
        table_rows = common.table_row_count(conn, schema, table)
        result["table_rows"] = table_rows
        ledger = read_ledger(conn, schema, table)
        plan = plan_load(files, ledger, p["mode"], table_rows=table_rows, force=p["force"])
        result["truncated"] = plan["truncate"]

        # 2. read every file's columns and match them with the table before writing anything
        types = dict((c["name"].lower(), c["type"]) for c in state["columns"])
        inserts = []
        for f in plan["load"]:
            try:
                sniff_reader = reader_sql(f["format"], p["reader_options"])
                file_columns = [r[0] for r in conn.execute(describe_sql(sniff_reader), [f["path"]]).fetchall()]
            except Exception as exc:
                module.fail_json(msg="cannot read %s as %s: %s" % (f["path"], f["format"], common.error_text(exc)),
                                 **result)
            try:
                selected = match_columns(file_columns, state["columns"], p["ignore_extra_columns"],
                                         source=f["path"])
            except SpecError as exc:
                module.fail_json(msg="%s (table %s)" % (exc, label), **result)
            # pin CSV column types to the table's (sniffing could read '00123' as a number)
            column_types = dict((name, types[name.lower()]) for name in selected)
            reader = reader_sql(f["format"], p["reader_options"], column_types=column_types)
            inserts.append((f, insert_sql(schema, table, selected, reader, catalog)))

        for f, reason in plan["skip"]:
            result["files"].append(dict(path=f["path"], sha256=f["sha256"], format=f["format"],
                                        status="skipped", reason=reason))
        if not plan["load"]:
            return result
        result["changed"] = True
        if module.check_mode:
            for f, _sql in inserts:
                result["files"].append(dict(path=f["path"], sha256=f["sha256"], format=f["format"],
                                            status="would_load"))
            return result

        # 3. load: one transaction for all files and their ledger entries
        batch_id = str(uuid.uuid4())
        result["batch_id"] = batch_id
        loaded = []
        insert_seconds = 0.0
        current = None
        load_started = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        try:
            for statement in ledger_table_sql(catalog):
                conn.execute(statement)
            if plan["truncate"]:
                conn.execute("DELETE FROM %s" % qualified_name(schema, table, catalog))
            for f, sql in inserts:
                current = f["path"]
                t0 = time.perf_counter()
                rows = int(conn.execute(sql, [f["path"]]).fetchone()[0])
                seconds = time.perf_counter() - t0
                insert_seconds += seconds
                entry = [batch_id, schema, table, f["path"], f["sha256"], f["bytes"], f["format"], p["mode"],
                         rows, seconds]
                conn.execute(ledger_insert_sql(catalog), entry)
                loaded.append(dict(path=f["path"], sha256=f["sha256"], format=f["format"], status="loaded",
                                   rows=rows, seconds=round(seconds, 6),
                                   rows_per_second=rows_per_second(rows, seconds)))
            conn.execute("COMMIT")
            current = "(checkpoint)"
            # fold the WAL into the database file: the rows are on disk for good
            conn.execute("CHECKPOINT")
            durable_seconds = time.perf_counter() - load_started
        except Exception as exc:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                pass
            module.fail_json(msg="loading %s into %s failed: %s; nothing was loaded"
                                 % (current, label, common.error_text(exc)), **result)
        result["files"].extend(loaded)
        total_rows = sum(f["rows"] for f in loaded)
        # insert_seconds is the sum of the unrounded per-file times (summing the rounded
        # "seconds" of each file would carry every file's rounding error into the rate)
        result["rows_loaded"] = total_rows
        result["seconds"] = round(durable_seconds, 6)
        result["rows_per_second"] = rows_per_second(total_rows, durable_seconds)
        result["insert_seconds"] = round(insert_seconds, 6)
        result["insert_rows_per_second"] = rows_per_second(total_rows, insert_seconds)
        result["table_rows"] = common.table_row_count(conn, schema, table)
        common.close(conn)
        conn = None
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    finally:
        if conn is not None:
            conn.close()
        for warning in warnings:
            module.warn(warning)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
