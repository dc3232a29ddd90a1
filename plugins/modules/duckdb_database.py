#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: duckdb_database
short_description: Create a DuckDB database file and record its settings
version_added: "0.1.0"
author: Groundwork Maintainers (@groundwork-platform)
description:
  - Creates a DuckDB database file (or removes it), and manages the settings operators tune -
    memory limit, threads, temporary directory and its size cap, insertion order, checkpoint
    threshold, time zone, and any other DuckDB setting through O(extra_settings).
  - "How settings are persisted, honestly: DuckDB does not store settings such as
    C(memory_limit) or C(threads) in the database file; they belong to the process that opens it.
    This module therefore (1) checks every setting by applying it with C(SET) and reading back what
    DuckDB made of it, first in a scratch in-memory database (before anything changes) and then on
    the real file, (2) records the settings in the table C(_groundwork.settings) inside the file,
    which all modules of this collection apply when they open the database, and (3) optionally
    writes them as C(SET) statements to O(init_file), for the DuckDB CLI (C(duckdb -init FILE DB))
    or for applications to run when they connect. A client that reads neither runs with DuckDB's
    defaults."
  - Reports what changed (C(changes)) and, with C(--diff), the settings before and after.
extends_documentation_fragment:
  - groundwork.platform.duckdb
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports the file that would be created and the settings that would change.
  diff_mode:
    support: full
    description: Shows the recorded settings (and the init file) before and after.
  platform:
    platforms: posix
    support: full
    description: Runs on the managed host, where the database file lives.
options:
  state:
    description:
      - V(present) creates the database file if needed and records the settings.
      - V(absent) removes the database file and its write-ahead log; this needs O(allow_destructive).
    type: str
    choices: [present, absent]
    default: present
  allow_destructive:
    description:
      - Allow O(state=absent) to delete an existing database file.
    type: bool
    default: false
  memory_limit:
    description:
      - DuckDB C(memory_limit), a size such as V(8GB) or V(6GiB), or a share of RAM such as V(75%).
      - When unset, O(memory_limit_percent) of the host's memory (or of its cgroup limit, if lower)
        is computed on the host and recorded in MiB.
    type: str
  memory_limit_percent:
    description:
      - Share of the host's memory used for C(memory_limit) when O(memory_limit) is unset.
    type: int
    default: 75
  threads:
    description:
      - DuckDB C(threads). Defaults to the number of CPUs the host (its CPU affinity and cgroup
        quota) gives this process.
    type: int
  temp_directory:
    description:
      - Directory where DuckDB spills to disk when a query does not fit in O(memory_limit)
        (DuckDB's own default is V(DATABASE.tmp) next to the file). The directory is created by
        DuckDB when it first spills; its parent must be writable by the process using the database.
    type: path
  max_temp_directory_size:
    description:
      - Cap on the space used in O(temp_directory), for example V(50GiB).
    type: str
  preserve_insertion_order:
    description:
      - DuckDB C(preserve_insertion_order). V(false) lets large loads and exports use less memory
        when row order does not matter.
    type: bool
  checkpoint_threshold:
    description:
      - WAL size that triggers an automatic checkpoint (C(checkpoint_threshold)), for example V(256MiB).
    type: str
  timezone:
    description:
      - Time zone used to display and parse C(TIMESTAMP WITH TIME ZONE) values (C(TimeZone)), e.g. V(UTC).
    type: str
  extra_settings:
    description:
      - 'Further DuckDB settings, name to value, for example C({default_order: desc}).'
      - Each is checked with C(SET) in a scratch database first; an unknown name or a bad value fails
        the task naming the setting, before anything changes.
      - C(enable_external_access), C(lock_configuration) and C(enable_progress_bar) are recorded and
        written to O(init_file) but not applied by this collection's modules (they would stop
        M(groundwork.platform.duckdb_load) from reading files, or print into the module's output).
    type: dict
    default: {}
  init_file:
    description:
      - When set, write the settings as C(SET) statements to this file (atomically, only when its
        content changes), for C(duckdb -init FILE DATABASE) or for applications to run on connect.
      - Written with mode C(0644) and the O(owner) and O(group) of the database file.
    type: path
"""

EXAMPLES = r"""
- name: Create the forensics database with defaults derived from the host
  groundwork.platform.duckdb_database:
    database: /var/lib/duckdb/forensics.duckdb
    owner: duckdb
    group: duckdb
    mode: "0640"

- name: Tune it and write an init file for the duckdb CLI
  groundwork.platform.duckdb_database:
    database: /var/lib/duckdb/forensics.duckdb
    memory_limit_percent: 60
    threads: 8
    temp_directory: /var/lib/duckdb/tmp
    max_temp_directory_size: 50GiB
    preserve_insertion_order: false
    timezone: UTC
    extra_settings:
      default_order: desc
    init_file: /etc/duckdb/forensics.sql
  register: forensics_db

- name: Remove a scratch database
  groundwork.platform.duckdb_database:
    database: /var/lib/duckdb/scratch.duckdb
    state: absent
    allow_destructive: true
"""

RETURN = r"""
database:
  description: Absolute path of the database file.
  returned: always
  type: str
  sample: /var/lib/duckdb/forensics.duckdb
created:
  description: Whether the database file was (or, in check mode, would be) created.
  returned: always
  type: bool
settings:
  description: The settings recorded in C(_groundwork.settings), as DuckDB setting name to value.
  returned: when state is present
  type: dict
  sample: {"memory_limit": "11980MiB", "threads": "4", "TimeZone": "UTC"}
effective_settings:
  description:
    - What DuckDB reports (current_setting()) after applying each setting, e.g. C(11.6 GiB)
      for V(11980MiB). Read from the real database when the task wrote to it, otherwise from the
      scratch in-memory database the settings were checked in.
  returned: when state is present
  type: dict
  sample: {"memory_limit": "11.6 GiB", "threads": "4", "TimeZone": "UTC"}
host:
  description: Host resources the defaults were computed from.
  returned: when state is present
  type: dict
  sample: {"mem_total_bytes": 16747913216, "cgroup_memory_bytes": null, "cpu_count": 4, "cgroup_cpus": null}
changes:
  description: Human-readable list of what changed (or would change).
  returned: always
  type: list
  elements: str
  sample: ["create database file /var/lib/duckdb/forensics.duckdb", "set threads = 4"]
init_file:
  description: Path of the init file, when O(init_file) is set.
  returned: when O(init_file) is set
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_settings import (
    OPTION_SETTINGS,
    SETTINGS_TABLE,
    desired_settings,
    diff_settings,
    render_init_file,
    set_statement,
    settings_table_sql,
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
        state=dict(type="str", default="present", choices=["present", "absent"]),
        allow_destructive=dict(type="bool", default=False),
        memory_limit=dict(type="str"),
        memory_limit_percent=dict(type="int", default=75),
        threads=dict(type="int"),
        temp_directory=dict(type="path"),
        max_temp_directory_size=dict(type="str"),
        preserve_insertion_order=dict(type="bool"),
        checkpoint_threshold=dict(type="str"),
        timezone=dict(type="str"),
        extra_settings=dict(type="dict", default={}),
        init_file=dict(type="path"),
    )


def _settings_text(settings):
    return "".join("%s = %s\n" % (name, settings[name]) for name in sorted(settings, key=str.lower))


def _effective(conn, settings):
    """Apply each setting with SET and read back what DuckDB made of it."""
    effective = {}
    for name, value in settings.items():
        try:
            conn.execute(set_statement(name, value))
        except Exception as exc:
            raise SpecError("setting %s = %r is rejected by DuckDB: %s" % (name, value, common.error_text(exc)))
        row = conn.execute("SELECT CAST(current_setting(?) AS VARCHAR)", [name]).fetchone()
        effective[name] = row[0] if row else None
    return effective


def _write_atomic(path, content, owner_uid, owner_gid):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if owner_uid is not None or owner_gid is not None:
            os.chown(tmp, -1 if owner_uid is None else owner_uid, -1 if owner_gid is None else owner_gid)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _owner_ids(owner, group):
    """uid/gid for owner/group names (or numbers); None when unset."""
    import grp
    import pwd

    uid = gid = None
    if owner is not None:
        try:
            uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise KeyError("owner: no user named %s" % owner)
    if group is not None:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise KeyError("group: no group named %s" % group)
    return uid, gid


def run(module):
    p = module.params
    path = os.path.abspath(p["database"])
    result = dict(changed=False, database=path, created=False, changes=[])
    diffs = []
    exists = os.path.exists(path)

    if p["state"] == "absent":
        if exists:
            if not p["allow_destructive"]:
                module.fail_json(msg="refusing to delete database %s (all its data would be lost); "
                                     "set allow_destructive: true to delete it" % path, **result)
            result["changed"] = True
            result["changes"].append("delete database file %s" % path)
            diffs.append(dict(before_header=path, after_header=path,
                              before="database file %s\n" % path, after=""))
            if not module.check_mode:
                for victim in (path, path + ".wal"):
                    if os.path.exists(victim):
                        os.unlink(victim)
        if module._diff:
            result["diff"] = diffs
        return result

    duckdb = common.require_duckdb(module)
    host = common.host_resources()
    result["host"] = host
    options = dict((opt, p[opt]) for opt, _name in OPTION_SETTINGS)
    options["memory_limit_percent"] = p["memory_limit_percent"]
    warnings = []
    try:
        settings = desired_settings(options, p["extra_settings"], host)
        # validate every setting in a scratch database before touching the file
        scratch = common.quiet(duckdb.connect(":memory:"))
        try:
            effective = _effective(scratch, settings)
        finally:
            scratch.close()
    except SpecError as exc:
        module.fail_json(msg=str(exc), **result)
    result["settings"] = settings
    result["effective_settings"] = effective

    recorded = {}
    if exists:
        try:
            conn = common.connect(path, read_only=True, apply_recorded_settings=False)
            try:
                recorded = common.read_settings(conn)
            finally:
                conn.close()
        except common.DuckDBModuleError as exc:
            module.fail_json(msg=str(exc), **result)
    else:
        result["created"] = True
        result["changes"].append("create database file %s" % path)

    changes, upserts, deletes = diff_settings(recorded, settings)
    result["changes"].extend(changes)
    if changes:
        diffs.append(dict(before_header="%s (%s.%s)" % (path, META_SCHEMA, SETTINGS_TABLE),
                          after_header="%s (%s.%s)" % (path, META_SCHEMA, SETTINGS_TABLE),
                          before=_settings_text(recorded), after=_settings_text(settings)))

    if not module.check_mode and (changes or not exists):
        try:
            conn = common.connect(path, apply_recorded_settings=False)
        except common.DuckDBModuleError as exc:
            module.fail_json(msg=str(exc), **result)
        catalog = common.catalog_name(conn)
        table = qualified_name(META_SCHEMA, SETTINGS_TABLE, catalog)
        statements = list(settings_table_sql(catalog))
        for name in deletes:
            statements.append(("DELETE FROM %s WHERE name = ?" % table, [name]))
        for name, value in upserts.items():
            statements.append(("INSERT OR REPLACE INTO %s (name, value, updated_at) VALUES "
                               "(?, ?, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP))" % table, [name, value]))
        try:
            common.run_transaction(conn, statements)
            # verify on the real database too
            result["effective_settings"] = _effective(conn, settings)
            common.close(conn, checkpoint=True)
            conn = None
        except (common.DuckDBModuleError, SpecError) as exc:
            module.fail_json(msg=str(exc), **result)
        finally:
            if conn is not None:
                conn.close()
    if changes or not exists:
        result["changed"] = True

    # init file for other clients
    if p["init_file"]:
        init_path = os.path.abspath(p["init_file"])
        result["init_file"] = init_path
        content = render_init_file(path, settings)
        try:
            with open(init_path) as handle:
                current = handle.read()
        except (IOError, OSError):
            current = None
        if current != content:
            result["changed"] = True
            result["changes"].append("%s init file %s" % ("write" if current is None else "update", init_path))
            diffs.append(dict(before_header=init_path, after_header=init_path,
                              before=current or "", after=content))
            if not module.check_mode:
                if not os.path.isdir(os.path.dirname(init_path)):
                    module.fail_json(msg="directory of init_file %s does not exist" % init_path, **result)
                try:
                    uid, gid = _owner_ids(p["owner"], p["group"])
                except KeyError as exc:
                    module.fail_json(msg=str(exc.args[0]), **result)
                _write_atomic(init_path, content, uid, gid)

    # owner/group/mode of the database file
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params, path=path)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    for warning in warnings:
        module.warn(warning)
    if module._diff:
        result["diff"] = diffs
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        add_file_common_args=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
