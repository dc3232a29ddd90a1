# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load planning: formats, reader SQL, column matching, ledger decisions."""

from __future__ import annotations

import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_load import (
    describe_sql,
    detect_format,
    insert_sql,
    ledger_insert_sql,
    ledger_table_sql,
    live_entries,
    match_columns,
    plan_load,
    reader_sql,
    rows_per_second,
)
from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import SpecError


@pytest.mark.parametrize("path, fmt", [
    ("/a/events.csv", "csv"), ("/a/E.CSV", "csv"), ("x.tsv", "csv"), ("x.csv.gz", "csv"),
    ("x.parquet", "parquet"), ("x.pq", "parquet"),
    ("x.json", "json"), ("x.ndjson", "json"), ("x.jsonl.gz", "json"),
])
def test_detect_format(path, fmt):
    assert detect_format(path) == fmt


def test_detect_format_explicit_and_errors():
    assert detect_format("x.txt", "csv") == "csv"
    with pytest.raises(SpecError, match="cannot tell the format of 'x.txt'"):
        detect_format("x.txt")
    with pytest.raises(SpecError, match="format: expected one of"):
        detect_format("x.csv", "xml")


def test_reader_sql():
    assert reader_sql("parquet") == "read_parquet(?)"
    assert reader_sql("csv", {"header": True, "delim": ";"}) == "read_csv(?, delim = ';', header = true)"
    assert reader_sql("csv", {}, column_types={"id": "VARCHAR"}) == "read_csv(?, types = {'id': 'VARCHAR'})"
    # explicit types from the operator win; JSON ignores column types
    assert reader_sql("csv", {"types": {"a": "INTEGER"}}, column_types={"id": "VARCHAR"}) == \
        "read_csv(?, types = {'a': 'INTEGER'})"
    assert reader_sql("json", {}, column_types={"id": "VARCHAR"}) == "read_json(?)"
    with pytest.raises(SpecError, match="reader_options.Bad-Name: not a valid reader option name"):
        reader_sql("csv", {"Bad-Name": 1})
    with pytest.raises(SpecError, match="reader_options.x: "):
        reader_sql("csv", {"x": object()})
    assert describe_sql("read_parquet(?)") == "DESCRIBE SELECT * FROM read_parquet(?)"


def test_insert_sql():
    assert insert_sql("forensics", "events", ["id", "Odd\"Name"], "read_parquet(?)", "db") == (
        'INSERT INTO "db"."forensics"."events" BY NAME SELECT "id", "Odd""Name" FROM read_parquet(?)')
    with pytest.raises(SpecError):
        insert_sql("s", "t", [], "read_csv(?)")


TABLE = [
    {"name": "id", "nullable": False, "default": None},
    {"name": "ts", "nullable": False, "default": "now()"},
    {"name": "note", "nullable": True, "default": None},
]


def test_match_columns():
    assert match_columns(["ID", "note"], TABLE) == ["ID", "note"]
    with pytest.raises(SpecError, match="f.csv has column not in the table: extra"):
        match_columns(["id", "extra"], TABLE, source="f.csv")
    assert match_columns(["id", "extra"], TABLE, ignore_extra_columns=True) == ["id"]
    with pytest.raises(SpecError, match="lacks NOT NULL column without a default: id"):
        match_columns(["note"], TABLE)
    with pytest.raises(SpecError, match="no column in common"):
        match_columns(["x"], [{"name": "a", "nullable": True, "default": None}], ignore_extra_columns=True)


def f(name, sha):
    return {"path": "/data/" + name, "sha256": sha}


def entry(batch, sha, mode, rows=10, path=None):
    return {"batch_id": batch, "file_path": path or "/data/%s" % sha, "sha256": sha, "mode": mode, "rows": rows}


def test_live_entries_start_at_latest_replace():
    ledger = [entry("b1", "a", "append"), entry("b2", "b", "replace"), entry("b2", "c", "replace"),
              entry("b3", "d", "skip_if_loaded")]
    assert [e["sha256"] for e in live_entries(ledger)] == ["b", "c", "d"]
    assert live_entries([]) == []


def test_plan_skip_if_loaded():
    ledger = [entry("b1", "aaa", "skip_if_loaded", path="/old/name.csv")]
    plan = plan_load([f("x.csv", "aaa"), f("y.csv", "bbb"), f("z.csv", "bbb")], ledger, "skip_if_loaded")
    assert [x["path"] for x in plan["load"]] == ["/data/y.csv"]
    assert [(x["path"], r) for x, r in plan["skip"]] == [
        ("/data/x.csv", "content already loaded from /old/name.csv"),
        ("/data/z.csv", "content already loaded from /data/y.csv"),
    ]
    assert not plan["truncate"]
    # content loaded before a later replace is gone from the table: load it again
    ledger.append(entry("b2", "zzz", "replace"))
    assert [x["sha256"] for x in plan_load([f("x.csv", "aaa")], ledger, "skip_if_loaded")["load"]] == ["aaa"]


def test_plan_append_always_loads():
    ledger = [entry("b1", "aaa", "append")]
    plan = plan_load([f("x.csv", "aaa")], ledger, "append")
    assert len(plan["load"]) == 1 and not plan["truncate"]


def test_plan_replace_is_idempotent_only_for_the_same_contents_and_rows():
    files = [f("a.csv", "aaa"), f("b.csv", "bbb")]
    assert plan_load(files, [], "replace")["truncate"]
    ledger = [entry("b1", "aaa", "replace", rows=3), entry("b1", "bbb", "replace", rows=4)]
    same = plan_load(list(reversed(files)), ledger, "replace", table_rows=7)
    assert same["load"] == [] and len(same["skip"]) == 2 and not same["truncate"]
    # rows changed behind our back -> reload
    assert plan_load(files, ledger, "replace", table_rows=8)["truncate"]
    # a file changed -> reload everything
    changed = plan_load([f("a.csv", "aaa"), f("b.csv", "ccc")], ledger, "replace", table_rows=7)
    assert changed["truncate"] and len(changed["load"]) == 2
    # something appended after the replace -> reload
    appended = ledger + [entry("b2", "ddd", "append", rows=1)]
    assert plan_load(files, appended, "replace", table_rows=8)["truncate"]
    # force reloads
    assert plan_load(files, ledger, "replace", table_rows=7, force=True)["truncate"]


def test_plan_force_and_bad_mode():
    ledger = [entry("b1", "aaa", "skip_if_loaded")]
    assert len(plan_load([f("x.csv", "aaa")], ledger, "skip_if_loaded", force=True)["load"]) == 1
    with pytest.raises(SpecError, match="mode: expected one of"):
        plan_load([], [], "upsert")


def test_rows_per_second_and_ledger_sql():
    assert rows_per_second(1000, 0.5) == 2000.0
    assert rows_per_second(10, 0) is None
    assert '"db"."_groundwork"."load_ledger"' in ledger_table_sql("db")[1]
    assert ledger_insert_sql("db").count("?") == 10
