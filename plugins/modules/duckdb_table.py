#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_table
short_description: Create and alter a DuckDB table from a declarative spec
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Makes a table in a DuckDB database match a declarative spec - columns with their types,
    defaults and NULL-ability, primary key, unique sets, CHECK constraints and indexes - creating
    the table (and its schema) when missing and altering it otherwise. A second run with the same
    spec changes nothing.
  - All DuckDB types are accepted, e.g. C(INTEGER), C(BIGINT), DECIMAL(12,2), C(VARCHAR),
    C(TIMESTAMP WITH TIME ZONE) (C(TIMESTAMPTZ)), C(DATE), C(UUID), C(JSON), C(BLOB), lists
    C(VARCHAR[]), fixed arrays C(DOUBLE[3]), STRUCT(a INTEGER, b VARCHAR),
    MAP(VARCHAR, INTEGER), UNION(...) and inline ENUM('open', 'closed'). Aliases
    (C(int), C(text), C(timestamptz)...) are normalised.
  - The spec is validated first (the error names the offending key, e.g.
    table(forensics.events).columns[3](severity).type), then created in a scratch in-memory
    DuckDB, which proves DuckDB accepts it and gives the canonical spelling compared with the real
    table. Nothing on the host changes when the spec is bad.
  - Destructive changes - dropping a column, a type change that can lose data (e.g. C(BIGINT) to
    C(INTEGER), C(VARCHAR) to anything, narrowing a C(DECIMAL) or an C(ENUM)), dropping the table -
    are refused unless O(allow_destructive=true). Lossless type changes (C(INTEGER) to C(BIGINT),
    C(FLOAT) to C(DOUBLE), wider C(DECIMAL), more C(ENUM) values, anything to C(VARCHAR)) are applied.
  - Changes DuckDB cannot make with C(ALTER TABLE) - adding or removing a primary key, unique or
    CHECK constraint, changing the type of a constrained column, dropping a column of a table with
    a primary key - need a rebuild (create a new table, copy all rows, drop the old one, rename),
    which runs only with O(allow_rebuild=true). A rebuild runs in one transaction, so a row that
    violates a new constraint rolls everything back.
  - Column order is not managed; new columns are appended. Column names compare case-insensitively
    (as DuckDB's identifiers do). A renamed column looks like a drop plus an add.
  - User-defined types (C(CREATE TYPE)) and foreign keys are not managed.
extends_documentation_fragment:
  - groundwork.platform.duckdb
attributes:
  check_mode:
    support: full
    description: Plans the change against the real table (opened read-only) and reports it.
  diff_mode:
    support: full
    description: Shows the table's DDL (columns, constraints, indexes) before and after.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the database file lives.
options:
  name:
    description:
      - Table name.
    type: str
    required: true
  schema:
    description:
      - Schema of the table; created when missing. V(_groundwork) is reserved.
    type: str
    default: main
  state:
    description:
      - V(present) creates or alters the table; V(absent) drops it (needs O(allow_destructive)).
    type: str
    choices: [present, absent]
    default: present
  columns:
    description:
      - The table's columns. Required when O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: Column name.
        type: str
        required: true
      type:
        description: DuckDB type, e.g. V(VARCHAR[]), DECIMAL(12,2), ENUM('open', 'closed').
        type: str
        required: true
      nullable:
        description:
          - Whether NULL is allowed; V(true) when not given. Primary key columns are never nullable
            (setting V(true) on one is an error).
        type: bool
      default:
        description:
          - Default value as a SQL expression, e.g. now(), V(0), gen_random_uuid(); text
            needs SQL quotes, e.g. V('open') written in YAML as C("'open'").
        type: str
      primary_key:
        description:
          - Make this column the primary key; set it on several columns for a composite key
            (or use the table-level O(primary_key)). V(false) when not given.
        type: bool
      unique:
        description: Add a UNIQUE constraint on this column alone. V(false) when not given.
        type: bool
      check:
        description: A CHECK constraint expression, e.g. V(severity BETWEEN 1 AND 5).
        type: str
  primary_key:
    description:
      - Columns of the primary key, for a composite key (instead of O(columns[].primary_key)).
    type: list
    elements: str
  unique:
    description:
      - Sets of columns that must be unique together, e.g. C([[case_id, item_no]]).
    type: list
    elements: list
  check_constraints:
    description:
      - Table-level CHECK constraint expressions, e.g. V(closed_at IS NULL OR closed_at >= opened_at).
    type: list
    elements: str
  indexes:
    description:
      - Secondary (ART) indexes. Indexes not listed are dropped (indexes are not data, so this is not
        destructive).
    type: list
    elements: dict
    suboptions:
      name:
        description: Index name; defaults to V(TABLE_COL1_COL2_idx).
        type: str
      columns:
        description: Indexed columns.
        type: list
        elements: str
        required: true
      unique:
        description: Whether the index is unique.
        type: bool
        default: false
  allow_destructive:
    description:
      - Allow changes that can lose data (dropped columns, lossy type changes, dropping the table).
    type: bool
    default: false
  allow_rebuild:
    description:
      - Allow rebuilding the table (copying every row) for changes C(ALTER TABLE) cannot make.
    type: bool
    default: false
seealso:
  - module: groundwork.platform.duckdb_database
  - module: groundwork.platform.duckdb_load
  - module: groundwork.platform.duckdb_validate
"""

EXAMPLES = r"""
- name: Cases table
  groundwork.platform.duckdb_table:
    database: /var/lib/duckdb/forensics.duckdb
    schema: forensics
    name: cases
    columns:
      - {name: case_id, type: INTEGER, primary_key: true}
      - {name: title, type: VARCHAR, nullable: false}
      - {name: status, type: "ENUM('open', 'closed', 'archived')", nullable: false, default: "'open'"}
      - {name: opened_at, type: TIMESTAMPTZ, nullable: false}
      - {name: closed_at, type: TIMESTAMPTZ}
      - {name: budget, type: "DECIMAL(12,2)", check: "budget >= 0"}
      - {name: tags, type: "VARCHAR[]"}
      - {name: lead, type: "STRUCT(name VARCHAR, badge INTEGER)"}
      - {name: attributes, type: JSON}
    check_constraints:
      - closed_at IS NULL OR closed_at >= opened_at
    indexes:
      - {columns: [status]}

- name: Feed the tables of a spec file to the module
  groundwork.platform.duckdb_table:
    database: /var/lib/duckdb/forensics.duckdb
    schema: "{{ item.schema | default('main') }}"
    name: "{{ item.name }}"
    columns: "{{ item.columns }}"
    primary_key: "{{ item.primary_key | default(omit) }}"
    unique: "{{ item.unique | default(omit) }}"
    check_constraints: "{{ item.check_constraints | default(omit) }}"
    indexes: "{{ item.indexes | default(omit) }}"
  loop: "{{ (lookup('ansible.builtin.file', 'forensics_spec.yml') | from_yaml).tables }}"
  loop_control:
    label: "{{ item.name }}"

- name: Drop a column (destructive, must be allowed explicitly)
  groundwork.platform.duckdb_table:
    database: /var/lib/duckdb/forensics.duckdb
    name: scratch
    columns:
      - {name: id, type: BIGINT}
    allow_destructive: true
"""

RETURN = r"""
table:
  description: The table as DuckDB describes it after the task (planned state in check mode).
  returned: when state is present
  type: dict
  sample:
    schema: forensics
    name: cases
    columns: [{"name": "case_id", "type": "INTEGER", "nullable": false, "default": null}]
    primary_key: [case_id]
    unique: []
    checks: ["(budget >= 0)"]
    indexes: [{"name": "cases_status_idx", "unique": false, "sql": "CREATE INDEX cases_status_idx ON forensics.cases(status);"}]
action:
  description: V(none), V(create), V(alter), V(rebuild) or V(drop).
  returned: always
  type: str
  sample: alter
changes:
  description: Human-readable list of the changes (made, or planned in check mode).
  returned: always
  type: list
  elements: str
  sample: ["add column notes VARCHAR", "create index cases_status_idx"]
destructive:
  description: The changes that can lose data.
  returned: always
  type: list
  elements: str
rebuild_reasons:
  description: Why a rebuild is needed, when it is.
  returned: always
  type: list
  elements: str
statements:
  description: The SQL statements run (or that would run), in order, in one transaction.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    SpecError,
    parse_table_spec,
    plan_table,
    render_state,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import quote_ident


def argument_spec():
    return common.database_argument_spec(
        name=dict(type="str", required=True),
        schema=dict(type="str", default="main"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        columns=dict(
            type="list", elements="dict",
            options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", required=True),
                nullable=dict(type="bool"),
                default=dict(type="str"),
                primary_key=dict(type="bool", no_log=False),
                unique=dict(type="bool"),
                check=dict(type="str"),
            ),
        ),
        primary_key=dict(type="list", elements="str", no_log=False),
        unique=dict(type="list", elements="list"),
        check_constraints=dict(type="list", elements="str"),
        indexes=dict(
            type="list", elements="dict",
            options=dict(
                name=dict(type="str"),
                columns=dict(type="list", elements="str", required=True),
                unique=dict(type="bool", default=False),
            ),
        ),
        allow_destructive=dict(type="bool", default=False),
        allow_rebuild=dict(type="bool", default=False),
    )


def spec_from_params(params):
    """The table spec part of the module parameters, for parse_table_spec."""
    raw = dict(name=params["name"], schema=params["schema"], columns=params["columns"])
    for key in ("primary_key", "unique", "check_constraints", "indexes"):
        if params.get(key) is not None:
            raw[key] = params[key]
    return raw


def _fail(module, msg, result):
    module.fail_json(msg=msg, **result)


def run(module):
    common.require_duckdb(module)
    p = module.params
    path = os.path.abspath(p["database"])
    label = "%s.%s" % (p["schema"], p["name"])
    result = dict(changed=False, action="none", changes=[], destructive=[], rebuild_reasons=[],
                  statements=[])

    desired = None
    if p["state"] == "present":
        if not p["columns"]:
            _fail(module, "columns: required when state is present (table %s)" % label, result)
        try:
            spec = parse_table_spec(spec_from_params(p))
            desired = common.desired_state(spec)
        except SpecError as exc:
            _fail(module, str(exc), result)

    actual = None
    schema_missing = False
    catalog = common.default_catalog(path)
    if not os.path.exists(path):
        if not module.check_mode and p["state"] == "present":
            _fail(module, "database %s does not exist; create it with "
                          "groundwork.platform.duckdb_database first" % path, result)
        if p["state"] == "present":
            module.warn("database %s does not exist yet; planning against an empty database" % path)
        schema_missing = True
        conn = None
    else:
        try:
            conn = common.connect(path, read_only=module.check_mode)
        except common.DuckDBModuleError as exc:
            _fail(module, str(exc), result)
    try:
        if conn is not None:
            catalog = common.catalog_name(conn)
            actual = common.introspect_table(conn, p["schema"], p["name"])
            schema_missing = not common.schema_exists(conn, p["schema"])
        plan = plan_table(desired, actual, p["allow_destructive"], p["allow_rebuild"], catalog=catalog)
        result.update(
            action=plan["action"], changes=plan["changes"], destructive=plan["destructive"],
            rebuild_reasons=plan["rebuild_reasons"],
        )
        statements = list(plan["statements"])
        if p["state"] == "present" and schema_missing:
            statements.insert(0, "CREATE SCHEMA IF NOT EXISTS %s.%s" % (quote_ident(catalog), quote_ident(p["schema"])))
            result["changes"].insert(0, "create schema %s" % p["schema"])
        result["statements"] = statements
        if plan["error"]:
            _fail(module, plan["error"], result)
        result["changed"] = bool(statements)
        after = desired
        if statements and not module.check_mode:
            common.run_transaction(conn, statements)
            after = common.introspect_table(conn, p["schema"], p["name"]) if desired else None
            common.close(conn, checkpoint=True)
            conn = None
        elif desired is not None and not statements:
            after = actual
        if desired is not None:
            result["table"] = after
        if module._diff:
            result["diff"] = dict(
                before_header="%s: %s" % (path, label), after_header="%s: %s" % (path, label),
                before=render_state(actual), after=render_state(after),
            )
    except common.DuckDBModuleError as exc:
        _fail(module, str(exc), result)
    finally:
        if conn is not None:
            conn.close()
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
