#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_schema
short_description: Create or drop a schema in a DuckDB database
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Creates a schema in a DuckDB database file, or drops it.
  - Dropping a schema that still holds tables, views or other objects drops them too and needs
    O(allow_destructive); an empty schema is dropped without it.
  - M(groundwork.platform.duckdb_table) creates a table's schema when it is missing, so this
    module is only needed to create empty schemas or to drop them.
extends_documentation_fragment:
  - groundwork.platform.duckdb
attributes:
  check_mode:
    support: full
    description: Reports the schema that would be created or dropped.
  diff_mode:
    support: full
    description: Shows whether the schema exists before and after.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the database file lives.
options:
  name:
    description:
      - Name of the schema. V(main) and V(_groundwork) cannot be dropped.
    type: str
    required: true
  state:
    description:
      - Whether the schema should exist.
    type: str
    choices: [present, absent]
    default: present
  allow_destructive:
    description:
      - Allow dropping a schema that is not empty, with everything in it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Create the staging schema
  groundwork.platform.duckdb_schema:
    database: /var/lib/duckdb/forensics.duckdb
    name: staging

- name: Drop it with everything in it
  groundwork.platform.duckdb_schema:
    database: /var/lib/duckdb/forensics.duckdb
    name: staging
    state: absent
    allow_destructive: true
"""

RETURN = r"""
schema:
  description: Name of the schema.
  returned: always
  type: str
  sample: staging
objects:
  description: Tables and views found in the schema before a drop (C(schema.name)).
  returned: when state is absent and the schema exists
  type: list
  elements: str
changes:
  description: What changed (or would change).
  returned: always
  type: list
  elements: str
  sample: ["create schema staging"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import META_SCHEMA
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import quote_ident


def argument_spec():
    return common.database_argument_spec(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        allow_destructive=dict(type="bool", default=False),
    )


def run(module):
    common.require_duckdb(module)
    p = module.params
    path = os.path.abspath(p["database"])
    name = p["name"]
    result = dict(changed=False, schema=name, changes=[])
    if not name.strip():
        module.fail_json(msg="name: must not be empty", **result)
    if name.lower() == META_SCHEMA or (p["state"] == "absent" and name.lower() == "main"):
        module.fail_json(msg="name: schema %s is reserved and cannot be managed here" % name, **result)

    if not os.path.exists(path):
        if module.check_mode and p["state"] == "present":
            result["changed"] = True
            result["changes"].append("create schema %s (database %s does not exist yet)" % (name, path))
            module.warn("database %s does not exist; assuming duckdb_database creates it" % path)
            if module._diff:
                result["diff"] = dict(before="", after="schema %s\n" % name)
            return result
        if p["state"] == "absent":
            return result
        module.fail_json(msg="database %s does not exist; create it with "
                             "groundwork.platform.duckdb_database first" % path, **result)

    try:
        conn = common.connect(path, read_only=module.check_mode)
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    try:
        exists = common.schema_exists(conn, name)
        qname = "%s.%s" % (quote_ident(common.catalog_name(conn)), quote_ident(name))
        statements = []
        if p["state"] == "present" and not exists:
            result["changes"].append("create schema %s" % name)
            statements.append("CREATE SCHEMA %s" % qname)
        elif p["state"] == "absent" and exists:
            objects = [
                "%s.%s" % (r[0], r[1]) for r in conn.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
                    "AND lower(schema_name) = lower(?) UNION ALL "
                    "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = current_database() "
                    "AND lower(schema_name) = lower(?) AND NOT internal ORDER BY 1, 2", [name, name]).fetchall()
            ]
            result["objects"] = objects
            if objects and not p["allow_destructive"]:
                module.fail_json(msg="refusing to drop schema %s: it holds %s; set allow_destructive: true "
                                     "to drop it with everything in it" % (name, ", ".join(objects)), **result)
            result["changes"].append("drop schema %s%s" % (name, (" with " + ", ".join(objects)) if objects else ""))
            statements.append("DROP SCHEMA %s CASCADE" % qname)
        if statements:
            result["changed"] = True
            if module._diff:
                result["diff"] = dict(before="schema %s\n" % name if exists else "",
                                      after="" if exists else "schema %s\n" % name)
            if not module.check_mode:
                common.run_transaction(conn, statements)
                common.close(conn, checkpoint=True)
                conn = None
    except common.DuckDBModuleError as exc:
        module.fail_json(msg=str(exc), **result)
    finally:
        if conn is not None:
            conn.close()
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
