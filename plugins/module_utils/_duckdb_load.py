# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bulk loads for duckdb_load: reader SQL, column matching, ledger decisions (pure).

Files are loaded with one ``INSERT INTO table BY NAME SELECT ... FROM
read_csv/read_parquet/read_json(file)`` statement each: DuckDB reads and
inserts them in vectorised batches, never row by row.  Every loaded file is
recorded in ``_groundwork.load_ledger`` (path, SHA-256, rows, seconds, mode,
batch), which makes re-runs idempotent:

* ``append``: always load every file (not idempotent: use it for one-off loads);
* ``skip_if_loaded``: skip a file whose content (SHA-256) is already in the
  table's *live* ledger entries, whatever its path; load the others;
* ``replace``: empty the table and load the files, unless the live ledger
  entries are exactly one earlier ``replace`` of the same contents and the
  table still holds the rows that load recorded.

*Live* entries are those of the table's latest ``replace`` batch and every
load after it (a replace empties the table, so older loads are gone).
"""

from __future__ import annotations

import re

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    META_SCHEMA,
    SpecError,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    qualified_name,
    quote_ident,
    sql_value,
)

__all__ = [
    "LEDGER_TABLE",
    "FORMATS",
    "MODES",
    "detect_format",
    "reader_sql",
    "describe_sql",
    "insert_sql",
    "match_columns",
    "live_entries",
    "plan_load",
    "rows_per_second",
    "ledger_table_sql",
    "ledger_insert_sql",
]

LEDGER_TABLE = "load_ledger"
FORMATS = ("csv", "parquet", "json")
MODES = ("append", "replace", "skip_if_loaded")
_READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}
_EXTENSIONS = (
    (".csv", "csv"), (".tsv", "csv"), (".csv.gz", "csv"), (".tsv.gz", "csv"), (".csv.zst", "csv"),
    (".parquet", "parquet"), (".pq", "parquet"),
    (".json", "json"), (".ndjson", "json"), (".jsonl", "json"),
    (".json.gz", "json"), (".ndjson.gz", "json"), (".jsonl.gz", "json"),
)
_OPTION_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def detect_format(path, fmt="auto"):
    """The file format: ``fmt`` when given, else guessed from the extension."""
    if fmt and fmt != "auto":
        if fmt not in FORMATS:
            raise SpecError("format: expected one of auto, %s, got %r" % (", ".join(FORMATS), fmt))
        return fmt
    lower = path.lower()
    for ext, found in sorted(_EXTENSIONS, key=lambda e: -len(e[0])):
        if lower.endswith(ext):
            return found
    raise SpecError(
        "format: cannot tell the format of %r from its extension; set format to one of %s"
        % (path, ", ".join(FORMATS))
    )


def _reader_options(options, where):
    rendered = []
    for name in sorted(options or {}):
        if not isinstance(name, str) or not _OPTION_NAME.match(name):
            raise SpecError("%s.%s: not a valid reader option name" % (where, name))
        try:
            rendered.append("%s = %s" % (name, sql_value(options[name])))
        except ValueError as exc:
            raise SpecError("%s.%s: %s" % (where, name, exc))
    return rendered


def reader_sql(fmt, options=None, column_types=None, where="reader_options"):
    """``read_xxx(?, opt = value, ...)``; the file path is the ``?`` parameter.

    ``column_types`` (CSV only) pins the type of columns by name (DuckDB's
    ``types`` option), so that e.g. ``'00123'`` stays text in a VARCHAR column
    instead of being sniffed as a number.
    """
    if fmt not in _READERS:
        raise SpecError("format: expected one of %s, got %r" % (", ".join(FORMATS), fmt))
    options = dict(options or {})
    if column_types and fmt == "csv" and "types" not in options and "columns" not in options:
        options["types"] = dict(column_types)
    args = ["?"] + _reader_options(options, where)
    return "%s(%s)" % (_READERS[fmt], ", ".join(args))


def describe_sql(reader):
    """Query listing the columns (name, type, ...) the reader would produce."""
    return "DESCRIBE SELECT * FROM %s" % reader


def insert_sql(schema, table, columns, reader, catalog=None):
    """``INSERT INTO t BY NAME SELECT cols FROM reader`` (matches by column name)."""
    if not columns:
        raise SpecError("no columns to load into %s.%s" % (schema, table))
    return "INSERT INTO %s BY NAME SELECT %s FROM %s" % (
        qualified_name(schema, table, catalog),
        ", ".join(quote_ident(c) for c in columns),
        reader,
    )


def match_columns(file_columns, table_columns, ignore_extra_columns=False, source="file"):
    """Decide which file columns to load and refuse mismatches before loading.

    ``table_columns`` is a list of dicts with ``name``, ``nullable`` and
    ``default``.  Returns the file columns to select (the file's spelling).
    Raises SpecError when the file lacks a NOT NULL column without default,
    or has columns the table does not (unless ``ignore_extra_columns``).
    """
    table = dict((c["name"].lower(), c) for c in table_columns)
    selected, extra = [], []
    seen = set()
    for name in file_columns:
        if name.lower() in table:
            selected.append(name)
            seen.add(name.lower())
        else:
            extra.append(name)
    if extra and not ignore_extra_columns:
        raise SpecError(
            "%s has column%s not in the table: %s (set ignore_extra_columns: true to skip them)"
            % (source, "s" if len(extra) > 1 else "", ", ".join(extra))
        )
    required = [c["name"] for k, c in table.items()
                if k not in seen and not c["nullable"] and c["default"] is None]
    if required:
        raise SpecError(
            "%s lacks NOT NULL column%s without a default: %s"
            % (source, "s" if len(required) > 1 else "", ", ".join(required))
        )
    if not selected:
        raise SpecError("%s has no column in common with the table" % source)
    return selected


def live_entries(ledger):
    """Ledger entries (oldest first) still reflected in the table."""
    start = 0
    last_replace = None
    for i, entry in enumerate(ledger):
        if entry["mode"] == "replace" and entry["batch_id"] != last_replace:
            start = i
            last_replace = entry["batch_id"]
    return list(ledger[start:])


def plan_load(files, ledger, mode, table_rows=None, force=False):
    """Decide what a load does.

    ``files``: list of dicts with ``path`` and ``sha256`` (in load order).
    ``ledger``: this table's ledger entries, oldest first, dicts with
    ``batch_id``, ``file_path``, ``sha256``, ``mode``, ``rows``.
    ``table_rows``: the table's current row count (for ``replace``).
    Returns ``{"truncate": bool, "load": [file...], "skip": [(file, reason)...]}``.
    """
    if mode not in MODES:
        raise SpecError("mode: expected one of %s, got %r" % (", ".join(MODES), mode))
    live = live_entries(ledger)
    plan = {"truncate": False, "load": [], "skip": []}
    if mode == "append" or force:
        plan["truncate"] = mode == "replace"
        plan["load"] = list(files)
        return plan
    if mode == "skip_if_loaded":
        loaded = dict((e["sha256"], e["file_path"]) for e in live)
        for f in files:
            if f["sha256"] in loaded:
                plan["skip"].append((f, "content already loaded from %s" % loaded[f["sha256"]]))
            else:
                plan["load"].append(f)
                loaded[f["sha256"]] = f["path"]
        return plan
    # replace
    batches = set(e["batch_id"] for e in live)
    same = (
        len(batches) == 1
        and all(e["mode"] == "replace" for e in live)
        and sorted(e["sha256"] for e in live) == sorted(f["sha256"] for f in files)
        and (table_rows is None or table_rows == sum(int(e["rows"]) for e in live))
    )
    if same and files:
        for f in files:
            plan["skip"].append((f, "table already holds exactly these files (replace)"))
        return plan
    plan["truncate"] = True
    plan["load"] = list(files)
    return plan


def rows_per_second(rows, seconds):
    if not seconds or seconds <= 0:
        return None
    return round(rows / seconds, 1)


def ledger_table_sql(catalog=None):
    schema = quote_ident(META_SCHEMA) if catalog is None else "%s.%s" % (quote_ident(catalog), quote_ident(META_SCHEMA))
    return [
        "CREATE SCHEMA IF NOT EXISTS %s" % schema,
        "CREATE TABLE IF NOT EXISTS %s (batch_id VARCHAR NOT NULL, schema_name VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, file_path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, "
        "file_bytes BIGINT NOT NULL, format VARCHAR NOT NULL, mode VARCHAR NOT NULL, "
        "rows BIGINT NOT NULL, seconds DOUBLE NOT NULL, loaded_at TIMESTAMP NOT NULL)"
        % qualified_name(META_SCHEMA, LEDGER_TABLE, catalog),
    ]


def ledger_insert_sql(catalog=None):
    return (
        "INSERT INTO %s (batch_id, schema_name, table_name, file_path, sha256, file_bytes, "
        "format, mode, rows, seconds, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP))" % qualified_name(META_SCHEMA, LEDGER_TABLE, catalog)
    )
