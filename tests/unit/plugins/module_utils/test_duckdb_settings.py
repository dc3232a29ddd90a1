# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Settings defaults, SET statements, diffs and the init file."""

from __future__ import annotations

import duckdb
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_settings import (
    default_memory_limit,
    default_threads,
    desired_settings,
    diff_settings,
    render_init_file,
    set_statement,
    settings_table_sql,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import SpecError

GIB = 1024 ** 3
HOST = {"mem_total_bytes": 16 * GIB, "cgroup_memory_bytes": None, "cpu_count": 8, "cgroup_cpus": None}


def test_default_memory_limit_is_a_share_of_ram_or_cgroup():
    assert default_memory_limit(16 * GIB, 75) == "12288MiB"
    assert default_memory_limit(16 * GIB, 50, cgroup_limit_bytes=4 * GIB) == "2048MiB"
    assert default_memory_limit(16 * GIB, 100, cgroup_limit_bytes=64 * GIB) == "16384MiB"
    for bad in (0, 101, True, "75"):
        with pytest.raises(SpecError, match="memory_limit_percent"):
            default_memory_limit(16 * GIB, bad)


def test_default_threads():
    assert default_threads(8) == 8
    assert default_threads(8, cgroup_quota_cpus=2.5) == 3
    assert default_threads(2, cgroup_quota_cpus=16) == 2
    assert default_threads(0) == 1


def test_desired_settings_defaults_and_options():
    settings = desired_settings({"memory_limit_percent": 50}, {}, HOST)
    assert settings == {"memory_limit": "8192MiB", "threads": "8"}
    settings = desired_settings(
        {"memory_limit": "4GB", "threads": 2, "temp_directory": "/var/tmp/duck",
         "preserve_insertion_order": False, "timezone": "UTC", "max_temp_directory_size": None},
        {"default_order": "desc", "enable_progress_bar": True}, HOST)
    assert settings == {
        "memory_limit": "4GB", "threads": "2", "temp_directory": "/var/tmp/duck",
        "preserve_insertion_order": "false", "TimeZone": "UTC",
        "default_order": "desc", "enable_progress_bar": "true",
    }


@pytest.mark.parametrize("options, extra, fragment", [
    ({"threads": 0}, {}, "threads: expected a whole number >= 1"),
    ({"threads": True}, {}, "threads: expected a whole number >= 1"),
    ({"memory_limit": " "}, {}, "memory_limit: must not be empty"),
    ({}, {"bad name": 1}, "extra_settings.bad name: not a valid DuckDB setting name"),
    ({}, {"Threads": 4}, "extra_settings.Threads: threads has its own option"),
    ({}, {"timezone": "UTC"}, "TimeZone has its own option"),
    ({"timezone": "UTC"}, {"TIMEZONE": "UTC"}, "TimeZone has its own option"),
    ({}, {"x": [1]}, "extra_settings.x: expected a string, number or boolean"),
])
def test_desired_settings_errors(options, extra, fragment):
    with pytest.raises(SpecError) as err:
        desired_settings(options, extra, HOST)
    assert fragment in str(err.value)


def test_set_statements_are_accepted_by_duckdb():
    conn = duckdb.connect()
    try:
        for name, value in desired_settings({"memory_limit": "512MiB", "threads": 1, "timezone": "UTC",
                                             "preserve_insertion_order": False}, {}, HOST).items():
            conn.execute(set_statement(name, value))
        assert conn.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False
    finally:
        conn.close()
    assert set_statement("memory_limit", "1GB") == "SET memory_limit = '1GB'"
    with pytest.raises(SpecError):
        set_statement("x; drop", "1")


def test_diff_settings():
    current = {"memory_limit": "1GB", "threads": "4", "timezone": "UTC", "old": "x"}
    desired = {"memory_limit": "2GB", "threads": "4", "TimeZone": "UTC", "new": "y"}
    changes, upserts, deletes = diff_settings(current, desired)
    assert changes == [
        "change memory_limit from 1GB to 2GB",
        "set new = y",
        "change TimeZone from UTC to UTC",
        "remove old (was x)",
    ]
    assert upserts == {"memory_limit": "2GB", "new": "y", "TimeZone": "UTC"}
    assert sorted(deletes) == ["old", "timezone"]
    assert diff_settings(desired, dict(desired)) == ([], {}, [])


def test_init_file_runs_in_duckdb():
    text = render_init_file("/var/lib/duckdb/x.duckdb", {"memory_limit": "512MiB", "threads": "1"})
    assert "SET memory_limit = '512MiB';" in text and text.endswith("SET threads = '1';\n")
    conn = duckdb.connect()
    try:
        for statement in text.split(";"):
            lines = [l for l in statement.splitlines() if l and not l.startswith("--")]
            if lines:
                conn.execute("\n".join(lines))
        assert conn.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    finally:
        conn.close()


def test_settings_table_sql_qualifies_catalog():
    assert settings_table_sql("db")[0] == 'CREATE SCHEMA IF NOT EXISTS "db"."_groundwork"'
    assert '"db"."_groundwork"."settings"' in settings_table_sql("db")[1]
