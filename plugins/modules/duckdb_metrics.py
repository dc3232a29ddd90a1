#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_metrics
short_description: Write DuckDB database metrics for node_exporter's textfile collector
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Opens each database read-only and writes a Prometheus text file with, per database, whether it
    could be read (C(duckdb_up)), file and write-ahead-log size, used and free bytes inside the file,
    the number of tables, and per table the row count and the latest load recorded by
    M(groundwork.platform.duckdb_load) (time, rows, duration) and the number of loaded files.
  - The file is replaced atomically (written next to O(dest), then renamed) and only when its content
    changes, so node_exporter never reads half a file and a second run reports no change. The file
    carries no generation time stamp; node_exporter exports the file's modification time itself
    (C(node_textfile_mtime_seconds)).
  - A database that cannot be opened (missing, or locked by a process writing to it) gets
    C(duckdb_up 0) and a warning, or fails the task with O(fail_on_unavailable).
  - "Between Ansible runs the same file can be refreshed by the helper this module is built on, which
    runs on its own with only the duckdb package: C(python3 _duckdb_metrics.py --output DEST DB[=NAME]...)
    (C(plugins/module_utils/_duckdb_metrics.py) in this collection), e.g. from a systemd timer."
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Collects the metrics and reports whether the file would change, without writing it.
  diff_mode:
    support: full
    description: Shows the metrics file before and after.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the databases and node_exporter's directory are.
requirements:
  - duckdb (the Python package, 1.2 or later; tested with 2.0) on the managed host
options:
  databases:
    description:
      - Databases to report on. Each item is an absolute path, or a mapping with C(path) and C(name)
        (the value of the C(database) label; defaults to the file name without extension).
    type: list
    elements: raw
    required: true
  dest:
    description:
      - The C(.prom) file to write, in node_exporter's C(--collector.textfile.directory).
    type: path
    required: true
  fail_on_unavailable:
    description:
      - Fail when a database cannot be opened, instead of reporting C(duckdb_up 0).
    type: bool
    default: false
notes:
  - Row counts are exact (count(*) per table), which DuckDB answers quickly from its storage
    metadata for tables without pending deletes.
"""

EXAMPLES = r"""
- name: Export DuckDB metrics to node_exporter
  groundwork.platform.duckdb_metrics:
    databases:
      - /var/lib/duckdb/forensics.duckdb
      - {path: /var/lib/duckdb/scratch.duckdb, name: scratch}
    dest: /var/lib/node_exporter/textfile_collector/duckdb.prom
    mode: "0644"
"""

RETURN = r"""
dest:
  description: Path of the metrics file.
  returned: always
  type: str
databases:
  description: What was collected per database.
  returned: always
  type: list
  elements: dict
  sample:
    - name: forensics
      path: /var/lib/duckdb/forensics.duckdb
      up: true
      file_bytes: 12857344
      tables: [{"schema": "forensics", "table": "events", "rows": 100000,
                "last_load": {"timestamp": 1700000000.0, "rows": 100000, "seconds": 0.41}, "loaded_files": 1}]
samples:
  description: Number of metric samples written.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_metrics import (
    collect,
    render,
    write_if_changed,
)


def argument_spec():
    return dict(
        databases=dict(type="list", elements="raw", required=True),
        dest=dict(type="path", required=True),
        fail_on_unavailable=dict(type="bool", default=False),
    )


def parse_databases(items):
    """[(path, name)] from the databases option; raises ValueError naming the item."""
    out = []
    if not items:
        raise ValueError("databases: at least one database is required")
    for i, item in enumerate(items):
        if isinstance(item, str):
            path, name = item, None
        elif isinstance(item, dict):
            unknown = sorted(set(item) - set(["path", "name"]))
            if unknown:
                raise ValueError("databases[%d]: unknown key(s) %s (allowed: path, name)" % (i, ", ".join(unknown)))
            path, name = item.get("path"), item.get("name")
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ValueError("databases[%d].name: expected a non-empty string" % i)
        else:
            raise ValueError("databases[%d]: expected a path or a mapping with path and name" % i)
        if not isinstance(path, str) or not path.strip():
            raise ValueError("databases[%d].path: expected a file path" % i)
        out.append((os.path.abspath(path), name))
    return out


def run(module):
    duckdb = common.require_duckdb(module)
    p = module.params
    dest = os.path.abspath(p["dest"])
    result = dict(changed=False, dest=dest, databases=[], samples=0)
    try:
        targets = parse_databases(p["databases"])
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    if not os.path.isdir(os.path.dirname(dest)):
        module.fail_json(msg="directory of dest %s does not exist" % dest, **result)

    collected = [collect(duckdb, path, name) for path, name in targets]
    result["databases"] = collected
    down = [d for d in collected if not d["up"]]
    if down and p["fail_on_unavailable"]:
        module.fail_json(msg="cannot read %s" % "; ".join("%s: %s" % (d["path"], d.get("error")) for d in down),
                         **result)
    for d in down:
        module.warn("duckdb_up 0 for %s: %s" % (d["path"], d.get("error")))
    content = render(collected)
    result["samples"] = sum(1 for line in content.splitlines() if line and not line.startswith("#"))
    try:
        with open(dest) as handle:
            current = handle.read()
    except (IOError, OSError):
        current = None
    if current != content:
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(before_header=dest, after_header=dest, before=current or "", after=content)
        if not module.check_mode:
            mode = 0o644
            write_if_changed(dest, content, mode)
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, add_file_common_args=True)
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
