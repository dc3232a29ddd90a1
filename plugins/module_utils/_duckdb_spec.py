# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declarative DuckDB table specs: validation, diffing and DDL (pure, no I/O).

Three shapes of data travel through this file:

* a *spec*: what the operator wrote (``parse_table_spec`` validates it and
  returns a cleaned copy, raising ``SpecError`` naming the offending key);
* a *state*: a table as DuckDB describes it (columns with canonical type and
  default text, primary key, unique sets, check expressions, indexes).  The
  modules build the *actual* state by introspecting the database file and the
  *desired* state by creating the spec in a scratch in-memory DuckDB and
  introspecting that, so both sides are spelled by DuckDB itself;
* a *plan*: ``plan_table`` compares two states and returns the SQL statements
  to run, the list of human-readable changes, and whether they are destructive
  or need a table rebuild.
"""

from __future__ import annotations

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    TypeParseError,
    is_lossless_conversion,
    normalize_type,
    qualified_name,
    quote_ident,
    types_equal,
)

__all__ = [
    "META_SCHEMA",
    "SpecError",
    "check_expression",
    "parse_table_spec",
    "create_table_sql",
    "create_index_sql",
    "render_state",
    "plan_table",
    "REBUILD_SUFFIX",
]

#: schema inside every managed database file that holds this collection's
#: bookkeeping (settings, load ledger); never managed by duckdb_table.
META_SCHEMA = "_groundwork"
REBUILD_SUFFIX = "__gw_rebuild"

TABLE_KEYS = ("name", "schema", "columns", "primary_key", "unique", "check_constraints", "indexes")
COLUMN_KEYS = ("name", "type", "nullable", "default", "primary_key", "unique", "check")
INDEX_KEYS = ("name", "columns", "unique")


class SpecError(ValueError):
    """A spec is invalid; the message starts with the path of the offending key."""


# --------------------------------------------------------------------------
# small validators
# --------------------------------------------------------------------------

def _is_set(value):
    return value is not None


def _require_str(value, where):
    if not isinstance(value, str) or not value.strip():
        raise SpecError("%s: expected a non-empty string, got %r" % (where, value))
    if "\x00" in value:
        raise SpecError("%s: must not contain NUL characters" % where)
    return value


def _require_bool(value, where, default):
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError("%s: expected true or false, got %r" % (where, value))
    return value


def _require_list(value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError("%s: expected a list, got %s" % (where, type(value).__name__))
    return value


def _reject_unknown(raw, allowed, where):
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise SpecError(
            "%s: unknown key%s %s (allowed: %s)"
            % (where, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(allowed))
        )


def check_expression(expr, where):
    """Validate a raw SQL expression (CHECK or DEFAULT) supplied in a spec.

    The expression is embedded in generated DDL, so it must be one expression:
    no ``;``, ``--`` or ``/*`` outside quoted strings/identifiers, and balanced
    parentheses.
    """
    _require_str(expr, where)
    depth = 0
    quote = None
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == quote:
                if i + 1 < len(expr) and expr[i + 1] == quote:
                    i += 2
                    continue
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";":
            raise SpecError("%s: must be a single SQL expression (found ';'): %r" % (where, expr))
        elif expr.startswith("--", i) or expr.startswith("/*", i):
            raise SpecError("%s: SQL comments are not allowed in expressions: %r" % (where, expr))
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError("%s: unbalanced ')' in %r" % (where, expr))
        i += 1
    if quote:
        raise SpecError("%s: unterminated quoted string in %r" % (where, expr))
    if depth:
        raise SpecError("%s: unbalanced '(' in %r" % (where, expr))
    return expr.strip()


def _resolve_columns(names, by_lower, where):
    names = _require_list(names, where)
    if not names:
        raise SpecError("%s: expected at least one column" % where)
    resolved = []
    for i, name in enumerate(names):
        _require_str(name, "%s[%d]" % (where, i))
        column = by_lower.get(name.lower())
        if column is None:
            raise SpecError(
                "%s[%d]: column %r is not defined in columns" % (where, i, name)
            )
        if column in resolved:
            raise SpecError("%s[%d]: column %r listed twice" % (where, i, name))
        resolved.append(column)
    return resolved


# --------------------------------------------------------------------------
# spec parsing
# --------------------------------------------------------------------------

def parse_table_spec(raw, where="table", ignore_keys=()):
    """Validate a table spec and return a cleaned, normalised copy.

    ``raw`` keys: name, schema (default ``main``), columns (list of dicts with
    name, type, nullable, default, primary_key, unique, check), primary_key
    (list of column names), unique (list of lists of column names),
    check_constraints (list of SQL boolean expressions), indexes (list of dicts
    with name, columns, unique).  Keys whose value is ``None`` count as unset
    (this is how AnsibleModule passes sub-options that were not given).
    ``ignore_keys`` are accepted and dropped (e.g. keys meant for other modules
    in a shared spec file).
    """
    if not isinstance(raw, dict):
        raise SpecError("%s: expected a mapping, got %s" % (where, type(raw).__name__))
    raw = {k: v for k, v in raw.items() if k not in ignore_keys}
    _reject_unknown(raw, TABLE_KEYS, where)

    name = _require_str(raw.get("name"), where + ".name")
    schema = raw.get("schema")
    schema = "main" if schema is None else _require_str(schema, where + ".schema")
    if schema.lower() == META_SCHEMA:
        raise SpecError("%s.schema: %r is reserved for the collection's own bookkeeping" % (where, schema))
    if name.lower().endswith(REBUILD_SUFFIX):
        raise SpecError("%s.name: names ending in %r are reserved" % (where, REBUILD_SUFFIX))
    label = "%s(%s.%s)" % (where, schema, name)

    raw_columns = _require_list(raw.get("columns"), label + ".columns")
    if not raw_columns:
        raise SpecError("%s.columns: a table needs at least one column" % label)

    columns = []
    by_lower = {}
    column_pk = []
    unique_sets = []
    for i, rc in enumerate(raw_columns):
        cw = "%s.columns[%d]" % (label, i)
        if not isinstance(rc, dict):
            raise SpecError("%s: expected a mapping, got %s" % (cw, type(rc).__name__))
        _reject_unknown(rc, COLUMN_KEYS, cw)
        cname = _require_str(rc.get("name"), cw + ".name")
        cw = "%s.columns[%d](%s)" % (label, i, cname)
        if cname.lower() in by_lower:
            raise SpecError("%s.name: duplicate column name %r (names are case-insensitive)" % (cw, cname))
        if rc.get("type") is None:
            raise SpecError("%s.type: required" % cw)
        try:
            ctype = normalize_type(_require_str(rc.get("type"), cw + ".type"))
        except TypeParseError as exc:
            raise SpecError("%s.type: %s" % (cw, exc))
        is_pk = _require_bool(rc.get("primary_key"), cw + ".primary_key", False)
        nullable = rc.get("nullable")
        if is_pk and nullable is True:
            raise SpecError("%s.nullable: a primary key column cannot be nullable" % cw)
        nullable = _require_bool(nullable, cw + ".nullable", True) and not is_pk
        default = rc.get("default")
        if _is_set(default):
            if isinstance(default, bool) or not isinstance(default, (str, int, float)):
                raise SpecError(
                    "%s.default: expected a SQL expression string (quote text: \"'open'\"), got %r"
                    % (cw, default)
                )
            default = check_expression(str(default), cw + ".default")
        check = rc.get("check")
        if _is_set(check):
            check = check_expression(check, cw + ".check")
        column = {
            "name": cname,
            "type": ctype,
            "nullable": nullable,
            "default": default,
            "check": check,
        }
        if _require_bool(rc.get("unique"), cw + ".unique", False):
            unique_sets.append([cname])
        if is_pk:
            column_pk.append(cname)
        columns.append(column)
        by_lower[cname.lower()] = cname

    primary_key = []
    if _is_set(raw.get("primary_key")):
        if column_pk:
            raise SpecError(
                "%s.primary_key: set either a table-level primary_key or primary_key on "
                "columns (%s), not both" % (label, ", ".join(column_pk))
            )
        primary_key = _resolve_columns(raw.get("primary_key"), by_lower, label + ".primary_key")
        for column in columns:
            if column["name"] in primary_key:
                if raw_columns[columns.index(column)].get("nullable") is True:
                    raise SpecError(
                        "%s.columns(%s).nullable: a primary key column cannot be nullable"
                        % (label, column["name"])
                    )
                column["nullable"] = False
    else:
        primary_key = column_pk

    for i, rset in enumerate(_require_list(raw.get("unique"), label + ".unique")):
        unique_sets.append(_resolve_columns(rset, by_lower, "%s.unique[%d]" % (label, i)))
    seen_sets = set()
    for uset in unique_sets:
        key = tuple(c.lower() for c in uset)
        if key in seen_sets or (primary_key and key == tuple(c.lower() for c in primary_key)):
            raise SpecError("%s.unique: (%s) is declared more than once (or is the primary key)"
                            % (label, ", ".join(uset)))
        seen_sets.add(key)

    checks = []
    for i, expr in enumerate(_require_list(raw.get("check_constraints"), label + ".check_constraints")):
        checks.append(check_expression(expr, "%s.check_constraints[%d]" % (label, i)))

    indexes = []
    index_names = set()
    for i, ri in enumerate(_require_list(raw.get("indexes"), label + ".indexes")):
        iw = "%s.indexes[%d]" % (label, i)
        if not isinstance(ri, dict):
            raise SpecError("%s: expected a mapping, got %s" % (iw, type(ri).__name__))
        _reject_unknown(ri, INDEX_KEYS, iw)
        icolumns = _resolve_columns(ri.get("columns"), by_lower, iw + ".columns")
        iname = ri.get("name")
        if iname is None:
            iname = "%s_%s_idx" % (name, "_".join(icolumns))
        _require_str(iname, iw + ".name")
        if iname.lower() in index_names:
            raise SpecError("%s.name: duplicate index name %r" % (iw, iname))
        index_names.add(iname.lower())
        indexes.append({
            "name": iname,
            "columns": icolumns,
            "unique": _require_bool(ri.get("unique"), iw + ".unique", False),
        })

    return {
        "schema": schema,
        "name": name,
        "columns": columns,
        "primary_key": primary_key,
        "unique": unique_sets,
        "check_constraints": checks,
        "indexes": indexes,
    }


# --------------------------------------------------------------------------
# DDL from a spec (used to build the desired table in a scratch database)
# --------------------------------------------------------------------------

def _create_sql(schema, name, columns, primary_key, unique, checks, catalog=None):
    """The one CREATE TABLE builder: columns (with a column CHECK where they carry one), then
    the primary key, UNIQUE sets and table CHECK constraints."""
    lines = []
    for column in columns:
        line = "    %s %s" % (quote_ident(column["name"]), column["type"])
        if column["default"] is not None:
            line += " DEFAULT (%s)" % column["default"]
        if not column["nullable"]:
            line += " NOT NULL"
        if column.get("check") is not None:
            line += " CHECK (%s)" % column["check"]
        lines.append(line)
    if primary_key:
        lines.append("    PRIMARY KEY (%s)" % ", ".join(quote_ident(c) for c in primary_key))
    for uset in unique:
        lines.append("    UNIQUE (%s)" % ", ".join(quote_ident(c) for c in uset))
    for expr in checks:
        lines.append("    CHECK (%s)" % expr)
    return "CREATE TABLE %s (\n%s\n)" % (qualified_name(schema, name, catalog), ",\n".join(lines))


def create_table_sql(spec, table_name=None, catalog=None):
    """CREATE TABLE statement for a parsed spec."""
    return _create_sql(spec["schema"], table_name or spec["name"], spec["columns"], spec["primary_key"],
                       spec["unique"], spec["check_constraints"], catalog)


def create_index_sql(schema, table, index, catalog=None):
    return "CREATE %sINDEX %s ON %s (%s)" % (
        "UNIQUE " if index["unique"] else "",
        quote_ident(index["name"]),
        qualified_name(schema, table, catalog),
        ", ".join(quote_ident(c) for c in index["columns"]),
    )


# --------------------------------------------------------------------------
# states
# --------------------------------------------------------------------------

def _state_create_sql(state, table_name=None, catalog=None):
    """CREATE TABLE statement for a table state (its CHECK constraints are table-level)."""
    return _create_sql(state["schema"], table_name or state["name"], state["columns"], state["primary_key"],
                       state["unique"], state["checks"], catalog)


def _index_sql(index):
    """DuckDB's own text for an index (for display; it names schema.table only)."""
    sql = index["sql"].strip()
    return sql[:-1] if sql.endswith(";") else sql


def _index_signature(index):
    return (bool(index["unique"]), index["expressions"])


def _index_create(schema, table, index, catalog):
    if not index.get("columns"):
        raise ValueError("desired index %s has no columns" % index["name"])
    return create_index_sql(schema, table, index, catalog)


def render_state(state):
    """Readable DDL for a table state (used for Ansible's diff before/after)."""
    if state is None:
        return ""
    text = _state_create_sql(state) + ";\n"
    for index in sorted(state["indexes"], key=lambda i: i["name"].lower()):
        text += _index_sql(index) + ";\n"
    return text


def _lower_set(columns):
    return tuple(c.lower() for c in columns)


def _constraint_signature(state):
    return (
        _lower_set(state["primary_key"]),
        sorted(_lower_set(u) for u in state["unique"]),
        sorted(state["checks"]),
    )


def _constrained_columns(state):
    cols = set(c.lower() for c in state["primary_key"])
    for uset in state["unique"]:
        cols.update(c.lower() for c in uset)
    for cols_of_check in state.get("check_columns", {}).values():
        cols.update(c.lower() for c in cols_of_check)
    return cols


def _describe_constraints(state):
    parts = []
    if state["primary_key"]:
        parts.append("PRIMARY KEY (%s)" % ", ".join(state["primary_key"]))
    for uset in state["unique"]:
        parts.append("UNIQUE (%s)" % ", ".join(uset))
    for expr in state["checks"]:
        parts.append("CHECK %s" % expr)
    return "; ".join(parts) or "none"


def _new_plan():
    return {"action": "none", "changes": [], "destructive": [], "rebuild_reasons": [], "statements": [],
            "error": None}


def _plan_drop(plan, actual, allow_destructive, catalog):
    """The table should not exist: drop it (destructive: refused without allow_destructive)."""
    label = "%s.%s" % (actual["schema"], actual["name"])
    plan["action"] = "drop"
    plan["changes"].append("drop table %s" % label)
    plan["destructive"].append("drop table %s" % label)
    plan["statements"].append("DROP TABLE %s" % qualified_name(actual["schema"], actual["name"], catalog))
    if not allow_destructive:
        plan["error"] = (
            "refusing to drop table %s (all its rows would be lost); set "
            "allow_destructive: true to drop it" % label
        )
    return plan


def _plan_create(plan, desired, catalog):
    """The table does not exist: create it and its indexes."""
    schema, name = desired["schema"], desired["name"]
    plan["action"] = "create"
    plan["changes"].append("create table %s.%s" % (schema, name))
    plan["statements"].append(_state_create_sql(desired, catalog=catalog))
    for index in desired["indexes"]:
        plan["changes"].append("create index %s" % index["name"])
        plan["statements"].append(_index_create(schema, name, index, catalog))
    return plan


def _plan_added_columns(plan, desired, actual_cols, table):
    alter = []
    for column in desired["columns"]:
        if column["name"].lower() in actual_cols:
            continue
        plan["changes"].append("add column %s %s" % (column["name"], column["type"]))
        sql = "ALTER TABLE %s ADD COLUMN %s %s" % (table, quote_ident(column["name"]), column["type"])
        if column["default"] is not None:
            sql += " DEFAULT (%s)" % column["default"]
        if not column["nullable"]:
            sql += " NOT NULL"
        alter.append(sql)
    return alter


def _plan_dropped_columns(plan, actual, desired_cols, table):
    alter = []
    constrained = _constrained_columns(actual)
    has_key_index = bool(actual["primary_key"] or actual["unique"])
    for column in actual["columns"]:
        key = column["name"].lower()
        if key in desired_cols:
            continue
        change = "drop column %s" % column["name"]
        plan["changes"].append(change)
        plan["destructive"].append(change)
        if has_key_index or key in constrained:
            plan["rebuild_reasons"].append("%s (DuckDB cannot drop columns of a table with a primary key, "
                                           "unique or check constraint in place)" % change)
        alter.append("ALTER TABLE %s DROP COLUMN %s" % (table, quote_ident(column["name"])))
    return alter


def _plan_changed_columns(plan, desired, actual, actual_cols, table):
    """Type, default and NULL changes of the columns both have."""
    alter = []
    constrained = _constrained_columns(actual)
    for column in desired["columns"]:
        key = column["name"].lower()
        current = actual_cols.get(key)
        if current is None:
            continue
        cname = current["name"]
        qcol = quote_ident(cname)
        if not types_equal(current["type"], column["type"]):
            change = "change type of %s from %s to %s" % (cname, current["type"], column["type"])
            if is_lossless_conversion(current["type"], column["type"]):
                plan["changes"].append(change)
            else:
                change += " (may lose data)"
                plan["changes"].append(change)
                plan["destructive"].append(change)
            if key in constrained:
                plan["rebuild_reasons"].append("%s (DuckDB cannot change the type of a column used by a "
                                               "primary key, unique or check constraint)" % change)
            alter.append("ALTER TABLE %s ALTER COLUMN %s SET DATA TYPE %s" % (table, qcol, column["type"]))
        if current["default"] != column["default"]:
            if column["default"] is None:
                plan["changes"].append("drop default of %s (was %s)" % (cname, current["default"]))
                alter.append("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT" % (table, qcol))
            else:
                plan["changes"].append("set default of %s to %s (was %s)"
                                       % (cname, column["default"], current["default"]))
                alter.append("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s"
                             % (table, qcol, column["default"]))
        if current["nullable"] != column["nullable"]:
            if column["nullable"]:
                plan["changes"].append("allow NULL in %s" % cname)
                alter.append("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL" % (table, qcol))
            else:
                plan["changes"].append("set NOT NULL on %s" % cname)
                alter.append("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL" % (table, qcol))
    return alter


def _plan_constraints(plan, desired, actual):
    if _constraint_signature(actual) != _constraint_signature(desired):
        change = "change constraints from [%s] to [%s]" % (
            _describe_constraints(actual), _describe_constraints(desired))
        plan["changes"].append(change)
        plan["rebuild_reasons"].append("%s (DuckDB cannot add or drop constraints with ALTER TABLE)" % change)


def _plan_indexes(plan, desired_idx, actual_idx):
    """-> (indexes to drop, indexes to create)."""
    drop_idx, create_idx = [], []
    for key, index in sorted(actual_idx.items()):
        other = desired_idx.get(key)
        if other is None:
            plan["changes"].append("drop index %s" % index["name"])
            drop_idx.append(index)
        elif _index_signature(other) != _index_signature(index):
            plan["changes"].append("recreate index %s" % index["name"])
            drop_idx.append(index)
            create_idx.append(other)
    for key, index in sorted(desired_idx.items()):
        if key not in actual_idx:
            plan["changes"].append("create index %s" % index["name"])
            create_idx.append(index)
    return drop_idx, create_idx


def _refuse(plan, label, allow_destructive, allow_rebuild):
    refusals = []
    if plan["destructive"] and not allow_destructive:
        refusals.append(
            "refusing destructive changes to %s: %s; set allow_destructive: true to apply them"
            % (label, "; ".join(plan["destructive"]))
        )
    if plan["rebuild_reasons"] and not allow_rebuild:
        refusals.append(
            "changes to %s need a table rebuild (create a new table, copy every row, drop "
            "the old one, rename): %s; set allow_rebuild: true to allow it"
            % (label, "; ".join(plan["rebuild_reasons"]))
        )
    if refusals:
        plan["error"] = " / ".join(refusals)


def _rebuild_statements(desired, actual, actual_cols, catalog):
    """Create the desired table under a temporary name, copy every row (cast where the type
    changes), drop the old table, rename, create the indexes."""
    schema, name = actual["schema"], actual["name"]
    table = qualified_name(schema, name, catalog)
    temp = name + REBUILD_SUFFIX
    qtemp = qualified_name(schema, temp, catalog)
    copy_targets, copy_sources = [], []
    for column in desired["columns"]:
        current = actual_cols.get(column["name"].lower())
        if current is None:
            continue
        copy_targets.append(quote_ident(column["name"]))
        source = quote_ident(current["name"])
        if not types_equal(current["type"], column["type"]):
            source = "CAST(%s AS %s)" % (source, column["type"])
        copy_sources.append(source)
    statements = ["DROP TABLE IF EXISTS %s" % qtemp, _state_create_sql(desired, table_name=temp, catalog=catalog)]
    if copy_targets:
        statements.append("INSERT INTO %s (%s) SELECT %s FROM %s" % (
            qtemp, ", ".join(copy_targets), ", ".join(copy_sources), table))
    statements.append("DROP TABLE %s" % table)
    statements.append("ALTER TABLE %s RENAME TO %s" % (qtemp, quote_ident(name)))
    statements.extend(_index_create(schema, name, index, catalog) for index in desired["indexes"])
    return statements


def _alter_statements(actual, alter, drop_idx, create_idx, desired_idx, actual_idx, catalog):
    """In place: DuckDB refuses ALTER TABLE while explicit indexes exist on the table, so with
    any ALTER every index is dropped first and the desired ones are created again afterwards."""
    schema, name = actual["schema"], actual["name"]
    if alter:
        keep = [i for k, i in sorted(actual_idx.items()) if k in desired_idx and i not in drop_idx]
        drop_idx = drop_idx + keep
        create_idx = [desired_idx[i["name"].lower()] for i in keep] + create_idx
    statements = ["DROP INDEX %s" % qualified_name(schema, index["name"], catalog) for index in drop_idx]
    statements.extend(alter)
    statements.extend(_index_create(schema, name, index, catalog) for index in create_idx)
    return statements


def plan_table(desired, actual, allow_destructive=False, allow_rebuild=False, catalog=None):
    """Compare a desired and an actual table state and plan the change.

    Returns a dict:
      action:      'none' | 'create' | 'alter' | 'rebuild' | 'drop'
      changes:     human-readable list of what changes
      destructive: the subset of changes that can lose data (a dropped table or column, a
                   narrowing type change)
      rebuild_reasons: changes DuckDB cannot make with ALTER TABLE
      statements:  SQL to run, in order, inside one transaction
      error:       None, or why the plan is refused (destructive changes or a drop
                   without allow_destructive, rebuild without allow_rebuild)
    ``desired`` None means the table should not exist (action 'drop' when it does).
    ``catalog`` (the database name) qualifies every table and index name in the statements.
    Indexes compare by uniqueness and DuckDB's expression list; desired indexes carry
    ``columns`` to create them. One function per part of the plan, below.
    """
    plan = _new_plan()
    if desired is None:
        return plan if actual is None else _plan_drop(plan, actual, allow_destructive, catalog)
    if actual is None:
        return _plan_create(plan, desired, catalog)

    # the actual table's spelling of its names wins (identifiers are case-insensitive)
    table = qualified_name(actual["schema"], actual["name"], catalog)
    actual_cols = dict((c["name"].lower(), c) for c in actual["columns"])
    desired_cols = dict((c["name"].lower(), c) for c in desired["columns"])
    alter = (_plan_added_columns(plan, desired, actual_cols, table)
             + _plan_dropped_columns(plan, actual, desired_cols, table)
             + _plan_changed_columns(plan, desired, actual, actual_cols, table))
    _plan_constraints(plan, desired, actual)
    actual_idx = dict((i["name"].lower(), i) for i in actual["indexes"])
    desired_idx = dict((i["name"].lower(), i) for i in desired["indexes"])
    drop_idx, create_idx = _plan_indexes(plan, desired_idx, actual_idx)
    if not plan["changes"]:
        return plan

    _refuse(plan, "%s.%s" % (desired["schema"], desired["name"]), allow_destructive, allow_rebuild)
    if plan["rebuild_reasons"]:
        plan["action"] = "rebuild"
        plan["statements"] = _rebuild_statements(desired, actual, actual_cols, catalog)
    else:
        plan["action"] = "alter"
        plan["statements"] = _alter_statements(actual, alter, drop_idx, create_idx, desired_idx, actual_idx, catalog)
    return plan
