# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DuckDB settings: defaults from host resources, SET statements, diffs (pure).

DuckDB keeps settings such as ``memory_limit`` and ``threads`` per database
instance (per process), not in the database file.  The collection therefore
records the operator's settings in ``_groundwork.settings`` inside the file,
applies them on every connection its modules open, and can write them as SET
statements to an init file for other clients (``duckdb -init FILE``).
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
    quote_literal,
)

__all__ = [
    "SETTINGS_TABLE",
    "OPTION_SETTINGS",
    "NOT_APPLIED_BY_MODULES",
    "default_memory_limit",
    "default_threads",
    "desired_settings",
    "set_statement",
    "diff_settings",
    "render_init_file",
    "settings_table_sql",
]

SETTINGS_TABLE = "settings"

#: module option -> DuckDB setting name, for the settings with their own option
OPTION_SETTINGS = (
    ("memory_limit", "memory_limit"),
    ("threads", "threads"),
    ("temp_directory", "temp_directory"),
    ("max_temp_directory_size", "max_temp_directory_size"),
    ("preserve_insertion_order", "preserve_insertion_order"),
    ("checkpoint_threshold", "checkpoint_threshold"),
    ("timezone", "TimeZone"),
)

#: settings that are recorded and written to the init file but that the
#: collection's own modules do not apply to their connections, because they
#: would stop the modules from doing their job (reading load files, or keeping
#: stdout clean for the module's JSON result).
NOT_APPLIED_BY_MODULES = frozenset(["enable_external_access", "lock_configuration",
                                    "enable_progress_bar", "enable_progress_bar_print"])

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIB = 1024 * 1024


def default_memory_limit(mem_total_bytes, percent, cgroup_limit_bytes=None):
    """``percent`` of the memory available to the host (or its cgroup) as ``'<n>MiB'``."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise SpecError("memory_limit_percent: expected a whole number between 1 and 100, got %r"
                        % (percent,))
    available = mem_total_bytes
    if cgroup_limit_bytes:
        available = min(available, cgroup_limit_bytes)
    mib = max(1, int(available * percent / 100) // _MIB)
    return "%dMiB" % mib


def default_threads(cpu_count, cgroup_quota_cpus=None):
    """Host cores (affinity), capped by a cgroup CPU quota; at least 1."""
    count = max(1, int(cpu_count or 1))
    if cgroup_quota_cpus:
        count = min(count, max(1, int(-(-cgroup_quota_cpus // 1))))
    return count


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def desired_settings(options, extra_settings, host):
    """Settings to record, as ``{duckdb_name: text_value}`` in a stable order.

    ``options`` holds the module's setting options (None = unset),
    ``extra_settings`` a free-form dict of further DuckDB settings, ``host`` a
    dict with ``mem_total_bytes``, ``cgroup_memory_bytes``, ``cpu_count``,
    ``cgroup_cpus`` for the defaults.  memory_limit and threads always get a
    value (explicit, or the host-derived default).
    """
    settings = {}
    memory_limit = options.get("memory_limit")
    if memory_limit is None:
        memory_limit = default_memory_limit(
            host["mem_total_bytes"], options.get("memory_limit_percent", 75),
            host.get("cgroup_memory_bytes"))
    threads = options.get("threads")
    if threads is None:
        threads = default_threads(host["cpu_count"], host.get("cgroup_cpus"))
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SpecError("threads: expected a whole number >= 1, got %r" % (threads,))
    values = dict(options)
    values["memory_limit"] = memory_limit
    values["threads"] = threads
    for option, name in OPTION_SETTINGS:
        value = values.get(option)
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            raise SpecError("%s: must not be empty" % option)
        settings[name] = _text(value)
    lowered = dict((k.lower(), k) for k in settings)
    lowered.update((name.lower(), name) for _option, name in OPTION_SETTINGS)
    for name in sorted(extra_settings or {}):
        value = extra_settings[name]
        where = "extra_settings.%s" % name
        if not isinstance(name, str) or not _SETTING_NAME.match(name):
            raise SpecError("%s: not a valid DuckDB setting name" % where)
        if name.lower() in lowered:
            raise SpecError("%s: %s has its own option; set it there, not in extra_settings"
                            % (where, lowered[name.lower()]))
        if value is None or isinstance(value, (list, dict)):
            raise SpecError("%s: expected a string, number or boolean, got %r" % (where, value))
        settings[name] = _text(value)
        lowered[name.lower()] = name
    return settings


def set_statement(name, value):
    """``SET name = 'value'`` (DuckDB casts the text to the setting's type)."""
    if not _SETTING_NAME.match(name):
        raise SpecError("%s: not a valid DuckDB setting name" % name)
    return "SET %s = %s" % (name, quote_literal(value))


def diff_settings(current, desired):
    """Compare recorded settings with desired ones.

    Returns ``(changes, upserts, deletes)``: readable change lines, the
    ``{name: value}`` to write, and the names to remove.  Names compare
    case-insensitively, as DuckDB's do.
    """
    cur = dict((k.lower(), (k, v)) for k, v in (current or {}).items())
    want = dict((k.lower(), (k, v)) for k, v in desired.items())
    changes, upserts, deletes = [], {}, []
    for key in sorted(want):
        name, value = want[key]
        if key not in cur:
            changes.append("set %s = %s" % (name, value))
            upserts[name] = value
        elif cur[key][1] != value or cur[key][0] != name:
            changes.append("change %s from %s to %s" % (name, cur[key][1], value))
            if cur[key][0] != name:
                deletes.append(cur[key][0])
            upserts[name] = value
    for key in sorted(cur):
        if key not in want:
            changes.append("remove %s (was %s)" % (cur[key][0], cur[key][1]))
            deletes.append(cur[key][0])
    return changes, upserts, deletes


def render_init_file(database, settings):
    """SQL init file with the settings, for ``duckdb -init FILE DATABASE``."""
    lines = [
        "-- DuckDB settings for %s" % database,
        "-- Managed by Ansible (groundwork.platform.duckdb_database), local edits are overwritten.",
        "-- DuckDB does not store these in the database file: run this file on every",
        "-- connection, e.g. `duckdb -init THIS_FILE %s`," % database,
        "-- or read them from %s.%s." % (META_SCHEMA, SETTINGS_TABLE),
    ]
    for name in settings:
        lines.append(set_statement(name, settings[name]) + ";")
    return "\n".join(lines) + "\n"


def settings_table_sql(catalog=None):
    """DDL of the table that records a database's settings."""
    schema = quote_ident(META_SCHEMA) if catalog is None else "%s.%s" % (quote_ident(catalog), quote_ident(META_SCHEMA))
    return [
        "CREATE SCHEMA IF NOT EXISTS %s" % schema,
        "CREATE TABLE IF NOT EXISTS %s (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, "
        "updated_at TIMESTAMP NOT NULL)" % qualified_name(META_SCHEMA, SETTINGS_TABLE, catalog),
    ]
