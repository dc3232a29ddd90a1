# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""duckdb_database against real database files."""

from __future__ import annotations

import os

import duckdb
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils import _duckdb_common as common
from ansible_collections.groundwork.platform.plugins.modules import duckdb_database
from test_duckdb_harness import run_module


def recorded(path):
    conn = duckdb.connect(path, read_only=True)
    try:
        return dict(conn.execute("SELECT name, value FROM _groundwork.settings").fetchall())
    finally:
        conn.close()


def test_create_then_no_change(tmp_path):
    path = str(tmp_path / "a.duckdb")
    result = run_module(duckdb_database, {"database": path, "threads": 2, "memory_limit": "1GiB",
                                          "preserve_insertion_order": False, "timezone": "UTC"}, diff=True)
    assert result["changed"] and result["created"]
    assert os.path.exists(path)
    assert not os.path.exists(path + ".wal")  # checkpointed on close
    assert recorded(path) == {"memory_limit": "1GiB", "threads": "2", "preserve_insertion_order": "false",
                              "TimeZone": "UTC"}
    assert result["effective_settings"]["memory_limit"] == "1.0 GiB"
    assert result["effective_settings"]["threads"] == "2"
    assert "set threads = 2" in result["changes"]
    assert result["diff"][0]["after"].startswith("memory_limit = 1GiB\n")
    again = run_module(duckdb_database, {"database": path, "threads": 2, "memory_limit": "1GiB",
                                         "preserve_insertion_order": False, "timezone": "UTC"})
    assert not again["changed"] and again["changes"] == [] and not again["created"]


def test_defaults_come_from_the_host(tmp_path):
    path = str(tmp_path / "d.duckdb")
    result = run_module(duckdb_database, {"database": path, "memory_limit_percent": 10})
    host = result["host"]
    expected_mib = host["mem_total_bytes"] * 10 // 100 // (1024 * 1024)
    if host["cgroup_memory_bytes"]:
        expected_mib = min(host["mem_total_bytes"], host["cgroup_memory_bytes"]) * 10 // 100 // (1024 * 1024)
    assert result["settings"]["memory_limit"] == "%dMiB" % expected_mib
    assert result["settings"]["threads"] == str(len(os.sched_getaffinity(0)))


def test_change_is_reported_with_diff(tmp_path):
    path = str(tmp_path / "c.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB",
                                 "extra_settings": {"default_order": "desc"}})
    result = run_module(duckdb_database, {"database": path, "threads": 2, "memory_limit": "1GiB"}, diff=True)
    assert result["changed"]
    assert result["changes"] == ["change threads from 1 to 2", "remove default_order (was desc)"]
    assert result["diff"][0]["before"] == "default_order = desc\nmemory_limit = 1GiB\nthreads = 1\n"
    assert result["diff"][0]["after"] == "memory_limit = 1GiB\nthreads = 2\n"
    assert recorded(path) == {"memory_limit": "1GiB", "threads": "2"}


def test_check_mode_changes_nothing(tmp_path):
    path = str(tmp_path / "new.duckdb")
    result = run_module(duckdb_database, {"database": path, "threads": 1, "init_file": str(tmp_path / "x.sql")},
                        check_mode=True)
    assert result["changed"] and result["created"]
    assert not os.path.exists(path) and not os.path.exists(tmp_path / "x.sql")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB"})
    before = os.stat(path).st_mtime_ns
    result = run_module(duckdb_database, {"database": path, "threads": 2, "memory_limit": "1GiB"}, check_mode=True)
    assert result["changed"] and result["changes"] == ["change threads from 1 to 2"]
    assert recorded(path)["threads"] == "1"
    assert os.stat(path).st_mtime_ns == before


@pytest.mark.parametrize("params, fragment", [
    ({"extra_settings": {"no_such_setting": 1}}, "setting no_such_setting = '1' is rejected by DuckDB"),
    ({"memory_limit": "lots"}, "setting memory_limit = 'lots' is rejected by DuckDB"),
    ({"threads": 0}, "threads: expected a whole number >= 1"),
    ({"memory_limit_percent": 0}, "memory_limit_percent: expected a whole number between 1 and 100"),
    ({"extra_settings": {"access_mode": "read_only"}}, "setting access_mode"),
    ({"extra_settings": {"bad name": 1}}, "extra_settings.bad name"),
])
def test_bad_settings_fail_before_anything_changes(tmp_path, params, fragment):
    path = str(tmp_path / "bad.duckdb")
    result = run_module(duckdb_database, dict(params, database=path))
    assert result["failed"]
    assert fragment in result["msg"]
    assert not os.path.exists(path)


def test_init_file_written_atomically_and_idempotently(tmp_path):
    path = str(tmp_path / "i.duckdb")
    init = tmp_path / "i.sql"
    params = {"database": path, "threads": 1, "memory_limit": "1GiB", "init_file": str(init)}
    result = run_module(duckdb_database, params)
    assert result["changed"] and result["init_file"] == str(init)
    text = init.read_text()
    assert "SET threads = '1';" in text and "SET memory_limit = '1GiB';" in text
    assert oct(init.stat().st_mode & 0o777) == "0o644"
    assert not run_module(duckdb_database, params)["changed"]
    init.write_text("-- edited\n")
    result = run_module(duckdb_database, params, diff=True)
    assert result["changed"] and result["changes"] == ["update init file %s" % init]
    assert init.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["i.duckdb", "i.sql"]


def test_file_mode_is_applied(tmp_path):
    path = str(tmp_path / "m.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB", "mode": "0600"})
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    result = run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB", "mode": "0640"})
    assert result["changed"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"


def test_recorded_settings_are_applied_by_module_connections(tmp_path):
    path = str(tmp_path / "s.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "300MiB",
                                 "extra_settings": {"enable_external_access": False}})
    conn = common.connect(path, read_only=True)
    try:
        assert conn.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "300.0 MiB"
        # recorded, but deliberately not applied (it would stop duckdb_load from reading files)
        assert conn.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is True
    finally:
        conn.close()


def test_absent_needs_allow_destructive(tmp_path):
    path = str(tmp_path / "gone.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB"})
    refused = run_module(duckdb_database, {"database": path, "state": "absent"})
    assert refused["failed"] and "allow_destructive" in refused["msg"]
    assert os.path.exists(path)
    check = run_module(duckdb_database, {"database": path, "state": "absent", "allow_destructive": True},
                       check_mode=True)
    assert check["changed"] and os.path.exists(path)
    removed = run_module(duckdb_database, {"database": path, "state": "absent", "allow_destructive": True})
    assert removed["changed"] and not os.path.exists(path)
    assert not run_module(duckdb_database, {"database": path, "state": "absent"})["changed"]


def test_missing_directory_fails_clearly(tmp_path):
    result = run_module(duckdb_database, {"database": str(tmp_path / "no" / "x.duckdb"), "threads": 1})
    assert result["failed"] and "does not exist" in result["msg"]


def test_module_connections_never_print_a_progress_bar(tmp_path):
    """DuckDB's progress bar goes to stdout, where Ansible expects the module's JSON only."""
    path = str(tmp_path / "q.duckdb")
    run_module(duckdb_database, {"database": path, "threads": 1, "memory_limit": "1GiB",
                                 "extra_settings": {"enable_progress_bar": True}})
    for read_only in (False, True):
        conn = common.connect(path, read_only=read_only)
        try:
            assert conn.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
        finally:
            conn.close()


def test_module_subprocess_prints_only_json(tmp_path):
    """Run the module the way Ansible does (a separate Python reading its args) and parse stdout."""
    import json
    import subprocess
    import sys

    from test_duckdb_harness import COLLECTIONS_PATH

    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "database": str(tmp_path / "sub.duckdb"), "threads": 1, "memory_limit": "1GiB"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.groundwork.platform.plugins.modules.duckdb_database",
         str(args)], capture_output=True, text=True, check=False, timeout=120,
        env=dict(os.environ, PYTHONPATH=COLLECTIONS_PATH))
    result = json.loads(proc.stdout)  # fails on any stray output
    assert result["changed"] and result["created"], proc.stderr
