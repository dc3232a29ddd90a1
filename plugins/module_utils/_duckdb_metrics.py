# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-database DuckDB metrics for node_exporter's textfile collector.

This file has no Ansible imports on purpose: besides being used by the
duckdb_metrics module it runs on its own, so a systemd timer can refresh the
metrics between Ansible runs::

    python3 _duckdb_metrics.py --output /var/lib/node_exporter/textfile/duckdb.prom \\
        /var/lib/duckdb/forensics.duckdb [more.duckdb ...]

``collect`` reads a database (I/O), ``render`` turns the collected data into
the Prometheus text format (pure), ``write_if_changed`` replaces the .prom file
atomically (temporary file in the same directory, fsync, rename) and only when
its content changes.
"""

from __future__ import annotations

import os
import sys
import tempfile

META_SCHEMA = "_groundwork"
LEDGER_TABLE = "load_ledger"

# name -> (type, help)
METRICS = (
    ("duckdb_up", "gauge", "Whether the database could be opened and read (1) or not (0)."),
    ("duckdb_database_file_bytes", "gauge", "Size of the database file on disk."),
    ("duckdb_database_wal_bytes", "gauge", "Size of the write-ahead log file (0 when none)."),
    ("duckdb_database_used_bytes", "gauge", "Bytes in blocks DuckDB uses inside the file."),
    ("duckdb_database_free_bytes", "gauge", "Bytes in free blocks inside the file (reusable)."),
    ("duckdb_database_tables", "gauge", "Number of user tables."),
    ("duckdb_table_rows", "gauge", "Rows in a table."),
    ("duckdb_table_last_load_timestamp_seconds", "gauge",
     "Unix time of the latest load into the table recorded by duckdb_load."),
    ("duckdb_table_last_load_rows", "gauge", "Rows written by the latest load into the table."),
    ("duckdb_table_last_load_duration_seconds", "gauge",
     "Seconds spent in the INSERT statements of the latest load into the table."),
    ("duckdb_table_loaded_files", "gauge", "Files whose rows are in the table according to the load ledger."),
)


def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels):
    return "{" + ",".join('%s="%s"' % (k, escape_label(v)) for k, v in labels) + "}"


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _quote(name):
    return '"%s"' % name.replace('"', '""')


def database_label(path):
    """Default ``database`` label: file name without its extension."""
    base = os.path.basename(path)
    for ext in (".duckdb", ".db", ".ddb"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def render(databases):
    """Prometheus text format for a list of collected databases.

    Each item: ``{"name", "path", "up", "file_bytes", "wal_bytes", "used_bytes",
    "free_bytes", "tables": [{"schema", "table", "rows", "last_load": {...}|None,
    "loaded_files"}]}``.  Samples are sorted so the output is stable and the
    file only changes when a value does.
    """
    samples = dict((name, []) for name, _t, _h in METRICS)
    for db in sorted(databases, key=lambda d: (d["name"], d["path"])):
        base = [("database", db["name"]), ("path", db["path"])]
        samples["duckdb_up"].append((base, 1 if db.get("up") else 0))
        if not db.get("up"):
            if db.get("file_bytes") is not None:
                samples["duckdb_database_file_bytes"].append((base, db["file_bytes"]))
            continue
        for key in ("file_bytes", "wal_bytes", "used_bytes", "free_bytes"):
            if db.get(key) is not None:
                samples["duckdb_database_" + key].append((base, db[key]))
        tables = sorted(db.get("tables") or [], key=lambda t: (t["schema"], t["table"]))
        samples["duckdb_database_tables"].append((base, len(tables)))
        for t in tables:
            labels = [("database", db["name"]), ("schema", t["schema"]), ("table", t["table"])]
            samples["duckdb_table_rows"].append((labels, t["rows"]))
            last = t.get("last_load")
            if last:
                samples["duckdb_table_last_load_timestamp_seconds"].append((labels, last["timestamp"]))
                samples["duckdb_table_last_load_rows"].append((labels, last["rows"]))
                samples["duckdb_table_last_load_duration_seconds"].append((labels, last["seconds"]))
            if t.get("loaded_files") is not None:
                samples["duckdb_table_loaded_files"].append((labels, t["loaded_files"]))
    lines = []
    for name, mtype, helptext in METRICS:
        if not samples[name]:
            continue
        lines.append("# HELP %s %s" % (name, helptext))
        lines.append("# TYPE %s %s" % (name, mtype))
        for labels, value in samples[name]:
            lines.append("%s%s %s" % (name, _labels(labels), _number(value)))
    return "\n".join(lines) + "\n"


def _size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def collect(duckdb, path, name=None):
    """Open ``path`` read-only and gather what ``render`` needs.

    A database that cannot be opened (missing, locked by a writer, corrupt)
    yields ``up: False`` and the ``error`` text instead of raising.
    """
    db = {
        "name": name or database_label(path),
        "path": path,
        "up": False,
        "file_bytes": _size(path),
        "wal_bytes": _size(path + ".wal") or 0,
    }
    if db["file_bytes"] is None:
        db["error"] = "database file %s does not exist" % path
        return db
    try:
        conn = duckdb.connect(path, read_only=True)
    except Exception as exc:  # duckdb.Error subclasses; lock conflicts are IOException
        db["error"] = str(exc).splitlines()[0]
        return db
    # the progress bar prints to stdout, which carries the module's JSON result
    conn.execute("SET enable_progress_bar = false")
    try:
        size = conn.execute(
            "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()").fetchone()
        if size:
            db["used_bytes"] = int(size[0]) * int(size[1])
            db["free_bytes"] = int(size[0]) * int(size[2])
        tables = conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT temporary AND schema_name <> ? "
            "ORDER BY schema_name, table_name", [META_SCHEMA]).fetchall()
        has_ledger = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?", [META_SCHEMA, LEDGER_TABLE]).fetchone()[0] > 0
        catalog = _quote(conn.execute("SELECT current_database()").fetchone()[0])
        ledger = "%s.%s.%s" % (catalog, _quote(META_SCHEMA), _quote(LEDGER_TABLE))
        out = []
        for schema, table in tables:
            qname = "%s.%s.%s" % (catalog, _quote(schema), _quote(table))
            rows = conn.execute("SELECT count(*) FROM %s" % qname).fetchone()[0]
            item = {"schema": schema, "table": table, "rows": int(rows), "last_load": None,
                    "loaded_files": None}
            if has_ledger:
                last = conn.execute(
                    "SELECT epoch(max(loaded_at)), sum(rows), sum(seconds) FROM %s "
                    "WHERE schema_name = ? AND table_name = ? AND batch_id = ("
                    "SELECT arg_max(batch_id, loaded_at) FROM %s "
                    "WHERE schema_name = ? AND table_name = ?)" % (ledger, ledger),
                    [schema, table, schema, table]).fetchone()
                if last and last[0] is not None:
                    item["last_load"] = {"timestamp": float(last[0]), "rows": int(last[1]),
                                         "seconds": round(float(last[2]), 6)}
                live = conn.execute(
                    "SELECT count(*) FROM %s WHERE schema_name = ? AND table_name = ? "
                    "AND loaded_at >= coalesce((SELECT max(loaded_at) FROM %s "
                    "WHERE schema_name = ? AND table_name = ? AND mode = 'replace'), "
                    "TIMESTAMP '1970-01-01')" % (ledger, ledger),
                    [schema, table, schema, table]).fetchone()[0]
                item["loaded_files"] = int(live)
            out.append(item)
        db["tables"] = out
        db["up"] = True
    except Exception as exc:
        db["error"] = str(exc).splitlines()[0]
    finally:
        conn.close()
    return db


def write_if_changed(dest, content, mode=0o644):
    """Atomically replace ``dest`` with ``content`` unless it already has it.

    Returns True when the file was written.  The temporary file lives in the
    destination directory, so the final rename is atomic and node_exporter
    never reads a half-written file.
    """
    try:
        with open(dest, "r") as handle:
            if handle.read() == content:
                return False
    except (IOError, OSError):
        pass
    directory = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Write DuckDB metrics for node_exporter's textfile collector.")
    parser.add_argument("--output", required=True, help="the .prom file to write (atomically)")
    parser.add_argument("--mode", default="0644", help="file mode of the .prom file (octal)")
    parser.add_argument("databases", nargs="+", metavar="DATABASE[=NAME]",
                        help="database file, optionally with its label: /path/db.duckdb=name")
    args = parser.parse_args(argv)
    try:
        import duckdb
    except ImportError:
        sys.stderr.write("the duckdb Python package is required\n")
        return 2
    collected = []
    for item in args.databases:
        path, _sep, name = item.partition("=")
        collected.append(collect(duckdb, os.path.abspath(path), name or None))
    write_if_changed(args.output, render(collected), int(args.mode, 8))
    for db in collected:
        if not db["up"]:
            sys.stderr.write("%s: %s\n" % (db["path"], db.get("error")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
