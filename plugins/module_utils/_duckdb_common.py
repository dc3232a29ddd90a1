# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""I/O helpers shared by the duckdb_* modules: import, connect, introspect.

Everything that touches a database or the host lives here; the decisions
themselves are in the pure ``_duckdb_spec``, ``_duckdb_checks``,
``_duckdb_load`` and ``_duckdb_settings`` helpers.
"""

from __future__ import annotations

import os
import traceback

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_settings import (
    NOT_APPLIED_BY_MODULES,
    SETTINGS_TABLE,
    set_statement,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    META_SCHEMA,
    SpecError,
    create_index_sql,
    create_table_sql,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    qualified_name,
    quote_ident,
)

DUCKDB_IMPORT_ERROR = None
try:
    import duckdb  # noqa: F401  (imported lazily for the modules' missing_required_lib check)
    HAS_DUCKDB = True
except ImportError:
    duckdb = None
    HAS_DUCKDB = False
    DUCKDB_IMPORT_ERROR = traceback.format_exc()


class DuckDBModuleError(Exception):
    """An error to report with fail_json (message is meant for the operator)."""


def database_argument_spec(**options):
    """The argument spec of a module that works on one database file: the ``database`` option
    (documented once, in the doc fragment groundwork.platform.duckdb) and the module's own."""
    return dict(database=dict(type="path", required=True), **options)


def require_duckdb(module):
    """Fail the module cleanly when the duckdb Python package is missing."""
    if not HAS_DUCKDB:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("duckdb"), exception=DUCKDB_IMPORT_ERROR)
    return duckdb


def error_text(exc):
    """First meaningful line of a DuckDB error, with a hint for lock conflicts."""
    text = str(exc).strip()
    if "Could not set lock on file" in text or "Conflicting lock" in text:
        return (text.splitlines()[0] + " -- another process has the database open for "
                "writing; DuckDB allows one writer process at a time (stop it, or run this "
                "task when it is idle)")
    return text


# --------------------------------------------------------------------------
# host
# --------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def host_resources():
    """Memory and CPUs available to this host (and its cgroup, if limited)."""
    mem_total = None
    meminfo = _read("/proc/meminfo") or ""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            mem_total = int(line.split()[1]) * 1024
            break
    if mem_total is None:
        try:
            mem_total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            mem_total = 1024 * 1024 * 1024
    cgroup_memory = None
    raw = (_read("/sys/fs/cgroup/memory.max") or "").strip()
    if raw.isdigit():
        cgroup_memory = int(raw)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    cgroup_cpus = None
    raw = (_read("/sys/fs/cgroup/cpu.max") or "").split()
    if len(raw) == 2 and raw[0].isdigit() and raw[1].isdigit() and int(raw[1]) > 0:
        cgroup_cpus = int(raw[0]) / float(raw[1])
    return {
        "mem_total_bytes": mem_total,
        "cgroup_memory_bytes": cgroup_memory,
        "cpu_count": cpus,
        "cgroup_cpus": cgroup_cpus,
    }


# --------------------------------------------------------------------------
# connections
# --------------------------------------------------------------------------

def meta_table_exists(conn, table):
    return conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?", [META_SCHEMA, table]).fetchone()[0] > 0


def read_settings(conn):
    """Settings recorded in the database by duckdb_database (``{}`` if none)."""
    if not meta_table_exists(conn, SETTINGS_TABLE):
        return {}
    rows = conn.execute("SELECT name, value FROM %s ORDER BY name"
                        % qualified_name(META_SCHEMA, SETTINGS_TABLE, catalog_name(conn))).fetchall()
    return dict((name, value) for name, value in rows)


def apply_settings(conn, settings, warnings=None):
    """SET each recorded setting on this connection; failures become warnings."""
    applied = {}
    for name, value in settings.items():
        if name.lower() in NOT_APPLIED_BY_MODULES:
            continue
        try:
            conn.execute(set_statement(name, value))
            applied[name] = value
        except Exception as exc:
            if warnings is not None:
                warnings.append("could not apply recorded setting %s = %s: %s"
                                % (name, value, error_text(exc)))
    return applied


def quiet(conn):
    """Stop DuckDB's progress bar: it prints to stdout, which carries the module's JSON result."""
    conn.execute("SET enable_progress_bar = false")
    return conn


def connect(path, read_only=False, apply_recorded_settings=True, warnings=None):
    """Open a database file, applying the settings recorded in it.

    Raises DuckDBModuleError with an operator-friendly message.
    """
    if read_only and not os.path.exists(path):
        raise DuckDBModuleError("database %s does not exist" % path)
    if not read_only:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise DuckDBModuleError("directory %s of database %s does not exist" % (parent, path))
    try:
        conn = quiet(duckdb.connect(path, read_only=read_only))
    except Exception as exc:
        raise DuckDBModuleError("cannot open %s: %s" % (path, error_text(exc)))
    if apply_recorded_settings:
        try:
            apply_settings(conn, read_settings(conn), warnings)
        except Exception as exc:
            conn.close()
            raise DuckDBModuleError("cannot read settings of %s: %s" % (path, error_text(exc)))
    return conn


def close(conn, checkpoint=False):
    """Close a connection, checkpointing first so the WAL is folded into the file."""
    if conn is None:
        return
    try:
        if checkpoint:
            conn.execute("CHECKPOINT")
    finally:
        conn.close()


def run_transaction(conn, statements):
    """Run statements in one transaction; on error roll back and raise."""
    conn.execute("BEGIN TRANSACTION")
    current = None
    try:
        for current in statements:
            if isinstance(current, tuple):
                conn.execute(current[0], current[1])
            else:
                conn.execute(current)
        conn.execute("COMMIT")
    except Exception as exc:
        try:
            conn.execute("ROLLBACK")
        except Exception:
            pass
        sql = current[0] if isinstance(current, tuple) else current
        raise DuckDBModuleError("%s (while running: %s); nothing was changed"
                                % (error_text(exc), sql))


# --------------------------------------------------------------------------
# introspection
# --------------------------------------------------------------------------

def schema_exists(conn, schema):
    return conn.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() "
        "AND lower(schema_name) = lower(?)", [schema]).fetchone()[0] > 0


def find_table(conn, schema, name):
    """Actual (schema, table) spelling, or None when the table does not exist."""
    row = conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND lower(schema_name) = lower(?) AND lower(table_name) = lower(?) AND NOT temporary",
        [schema, name]).fetchone()
    return tuple(row) if row else None


def introspect_table(conn, schema, name):
    """The table's state (see _duckdb_spec) or None when it does not exist."""
    found = find_table(conn, schema, name)
    if found is None:
        return None
    schema, name = found
    params = [schema, name]
    where = "database_name = current_database() AND schema_name = ? AND table_name = ?"
    columns = [
        {"name": r[0], "type": r[1], "nullable": bool(r[2]), "default": r[3]}
        for r in conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE %s ORDER BY column_index" % where, params).fetchall()
    ]
    primary_key, unique, checks, check_columns = [], [], [], {}
    for ctype, cols, expr in conn.execute(
            "SELECT constraint_type, constraint_column_names, expression FROM duckdb_constraints() "
            "WHERE %s ORDER BY constraint_index" % where, params).fetchall():
        if ctype == "PRIMARY KEY":
            primary_key = list(cols)
        elif ctype == "UNIQUE":
            unique.append(list(cols))
        elif ctype == "CHECK":
            checks.append(expr)
            check_columns[expr] = list(cols or [])
    indexes = [
        {"name": r[0], "unique": bool(r[1]), "sql": r[2], "expressions": r[3]}
        for r in conn.execute(
            "SELECT index_name, is_unique, sql, CAST(expressions AS VARCHAR) FROM duckdb_indexes() "
            "WHERE %s ORDER BY index_name" % where, params).fetchall()
    ]
    return {
        "schema": schema,
        "name": name,
        "columns": columns,
        "primary_key": primary_key,
        "unique": sorted(unique, key=lambda u: [c.lower() for c in u]),
        "checks": sorted(checks),
        "check_columns": check_columns,
        "indexes": indexes,
    }


def desired_state(spec):
    """Create the spec'd table in a scratch in-memory DuckDB and introspect it.

    This both proves the spec is valid DuckDB (types, defaults, CHECK
    expressions) before anything on the host changes, and spells the desired
    state exactly as DuckDB will report the real table.
    """
    scratch = quiet(duckdb.connect(":memory:"))
    try:
        label = "%s.%s" % (spec["schema"], spec["name"])
        catalog = scratch.execute("SELECT current_database()").fetchone()[0]
        try:
            if spec["schema"].lower() != "main":
                scratch.execute("CREATE SCHEMA %s.%s" % (quote_ident(catalog), quote_ident(spec["schema"])))
            scratch.execute(create_table_sql(spec, catalog=catalog))
        except Exception as exc:
            raise SpecError("table %s: DuckDB rejects the spec: %s" % (label, error_text(exc)))
        # DuckDB only evaluates a DEFAULT when a row needs it: evaluate each one now
        for i, column in enumerate(spec["columns"]):
            if column["default"] is None:
                continue
            try:
                scratch.execute("SELECT CAST(CAST((%s) AS %s) AS VARCHAR)" % (column["default"], column["type"])).fetchall()
            except Exception as exc:
                raise SpecError("table(%s).columns[%d](%s).default: DuckDB cannot use %s as a %s: %s"
                                % (label, i, column["name"], column["default"], column["type"],
                                   error_text(exc).splitlines()[0]))
        for i, index in enumerate(spec["indexes"]):
            try:
                scratch.execute(create_index_sql(spec["schema"], spec["name"], index, catalog))
            except Exception as exc:
                raise SpecError("table %s: indexes[%d] (%s): DuckDB rejects it: %s"
                                % (label, i, index["name"], error_text(exc)))
        state = introspect_table(scratch, spec["schema"], spec["name"])
        columns = dict((index["name"].lower(), index["columns"]) for index in spec["indexes"])
        for index in state["indexes"]:
            index["columns"] = list(columns[index["name"].lower()])
        return state
    finally:
        scratch.close()


def catalog_name(conn):
    """The database's catalog name (DuckDB derives it from the file name)."""
    return conn.execute("SELECT current_database()").fetchone()[0]


def default_catalog(path):
    """Catalog name DuckDB will give a database file that does not exist yet."""
    base = os.path.basename(path)
    return base.split(".")[0] if "." in base else base


def table_row_count(conn, schema, name):
    return conn.execute("SELECT count(*) FROM %s" % qualified_name(schema, name, catalog_name(conn))).fetchone()[0]
