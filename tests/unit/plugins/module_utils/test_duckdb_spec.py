# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Table spec parsing, DDL generation and change planning (pure functions)."""

from __future__ import annotations

import copy

import duckdb
import pytest

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_spec import (
    SpecError,
    check_expression,
    create_index_sql,
    create_table_sql,
    parse_table_spec,
    plan_table,
    render_state,
)


def spec(**overrides):
    raw = {
        "name": "cases",
        "schema": "forensics",
        "columns": [
            {"name": "case_id", "type": "int", "primary_key": True},
            {"name": "title", "type": "text", "nullable": False},
            {"name": "status", "type": "enum('open', 'closed')", "default": "'open'"},
            {"name": "budget", "type": "decimal(12,2)", "check": "budget >= 0"},
            {"name": "tags", "type": "varchar[]"},
        ],
        "indexes": [{"columns": ["status"]}],
    }
    raw.update(overrides)
    return raw


def test_parse_normalises_and_fills_defaults():
    parsed = parse_table_spec(spec())
    assert parsed["schema"] == "forensics"
    assert [c["type"] for c in parsed["columns"]] == [
        "INTEGER", "VARCHAR", "ENUM('open', 'closed')", "DECIMAL(12,2)", "VARCHAR[]"]
    assert parsed["primary_key"] == ["case_id"]
    assert parsed["columns"][0]["nullable"] is False  # primary key implies NOT NULL
    assert parsed["columns"][4]["nullable"] is True
    assert parsed["indexes"] == [{"name": "cases_status_idx", "columns": ["status"], "unique": False}]
    assert parsed["columns"][3]["check"] == "budget >= 0"


def test_parse_defaults_schema_to_main_and_accepts_none_suboptions():
    # AnsibleModule passes sub-options that were not given as None
    parsed = parse_table_spec({"name": "t", "schema": None, "columns": [
        {"name": "a", "type": "int", "nullable": None, "default": None, "primary_key": None,
         "unique": None, "check": None}], "primary_key": None, "indexes": None})
    assert parsed["schema"] == "main"
    assert parsed["columns"][0]["nullable"] is True
    assert parsed["primary_key"] == []


def test_composite_keys_unique_sets_and_resolution_by_case():
    parsed = parse_table_spec({
        "name": "items", "columns": [{"name": "Case_ID", "type": "int"}, {"name": "item_no", "type": "int"},
                                     {"name": "sha256", "type": "varchar", "unique": True}],
        "primary_key": ["case_id", "ITEM_NO"], "unique": [["sha256", "item_no"]],
    })
    assert parsed["primary_key"] == ["Case_ID", "item_no"]
    assert parsed["unique"] == [["sha256"], ["sha256", "item_no"]]
    assert all(not c["nullable"] for c in parsed["columns"][:2])


@pytest.mark.parametrize("mutate, fragment", [
    (lambda s: s.pop("name"), "table.name: expected a non-empty string"),
    (lambda s: s.update(name=""), "table.name: expected a non-empty string"),
    (lambda s: s.update(colums=[]), "unknown key colums"),
    (lambda s: s.update(schema="_groundwork"), "table.schema: '_groundwork' is reserved"),
    (lambda s: s.update(name="x__gw_rebuild"), "names ending in '__gw_rebuild' are reserved"),
    (lambda s: s.update(columns=[]), "columns: a table needs at least one column"),
    (lambda s: s.update(columns="id int"), "columns: expected a list"),
    (lambda s: s["columns"].append("x"), "columns[5]: expected a mapping"),
    (lambda s: s["columns"][1].update(type="strng"),
     "table(forensics.cases).columns[1](title).type: unknown type name 'strng'"),
    (lambda s: s["columns"][1].pop("type"), "columns[1](title).type: required"),
    (lambda s: s["columns"][1].update(nullable="no"), "columns[1](title).nullable: expected true or false"),
    (lambda s: s["columns"][1].update(colour="red"), "columns[1]: unknown key colour"),
    (lambda s: s["columns"].append({"name": "TITLE", "type": "int"}), "duplicate column name 'TITLE'"),
    (lambda s: s["columns"][0].update(nullable=True), "a primary key column cannot be nullable"),
    (lambda s: s["columns"][2].update(default="'a'; DROP TABLE x"), "columns[2](status).default: must be a single SQL expression"),
    (lambda s: s["columns"][2].update(default=True), "columns[2](status).default: expected a SQL expression string"),
    (lambda s: s["columns"][3].update(check="budget > 0 -- comment"), "SQL comments are not allowed"),
    (lambda s: s["columns"][3].update(check="(budget > 0"), "unbalanced '('"),
    (lambda s: s.update(primary_key=["title"]), "set either a table-level primary_key or primary_key on columns"),
    (lambda s: s.update(unique=[["nope"]]), "unique[0][0]: column 'nope' is not defined in columns"),
    (lambda s: s.update(unique=[["title"], ["TITLE"]]), "unique: (title) is declared more than once"),
    (lambda s: s.update(indexes=[{"columns": []}]), "indexes[0].columns: expected at least one column"),
    (lambda s: s.update(indexes=[{"columns": ["title", "title"]}]), "indexes[0].columns[1]: column 'title' listed twice"),
    (lambda s: s.update(indexes=[{"columns": ["title"]}, {"columns": ["title"]}]), "duplicate index name 'cases_title_idx'"),
    (lambda s: s.update(indexes=[{"columns": ["title"], "where": "x"}]), "indexes[0]: unknown key where"),
    (lambda s: s.update(check_constraints=["a > 0;"]), "check_constraints[0]: must be a single SQL expression"),
])
def test_bad_specs_name_the_offending_key(mutate, fragment):
    raw = copy.deepcopy(spec())
    mutate(raw)
    with pytest.raises(SpecError) as err:
        parse_table_spec(raw)
    assert fragment in str(err.value)


def test_ignore_keys_drops_keys_meant_for_other_modules():
    raw = spec(validate=[{"type": "row_count", "min": 1}], source={"file": "cases.csv"})
    with pytest.raises(SpecError):
        parse_table_spec(raw)
    assert parse_table_spec(raw, ignore_keys=("validate", "source"))["name"] == "cases"


@pytest.mark.parametrize("expr", ["a > 0", "name = 'x;y'", '"we;ird" > 1', "f(a, (b)) = 'it''s'",
                                  "s LIKE '%--%'"])
def test_check_expression_accepts_quoted_specials(expr):
    assert check_expression(expr, "x") == expr


@pytest.mark.parametrize("expr", ["a > 0; drop table t", "a > 0 /* x */", "a > ')", "a > 0)", "", None])
def test_check_expression_rejects(expr):
    with pytest.raises(SpecError):
        check_expression(expr, "x")


def test_create_table_sql_is_valid_duckdb_and_quoted():
    parsed = parse_table_spec(spec(check_constraints=["budget < 1000000"], unique=[["title"]]))
    sql = create_table_sql(parsed)
    assert sql.startswith('CREATE TABLE "forensics"."cases" (')
    assert '"status" ENUM(\'open\', \'closed\') DEFAULT (\'open\')' in sql
    assert '"budget" DECIMAL(12,2) CHECK (budget >= 0)' in sql
    assert 'PRIMARY KEY ("case_id")' in sql
    assert 'UNIQUE ("title")' in sql
    conn = duckdb.connect()
    try:
        conn.execute("CREATE SCHEMA forensics")
        conn.execute(sql)
        conn.execute(create_index_sql("forensics", "cases", parsed["indexes"][0]))
        with pytest.raises(duckdb.ConstraintException):
            conn.execute("INSERT INTO forensics.cases (case_id, title, budget) VALUES (1, 'x', -1)")
        conn.execute("INSERT INTO forensics.cases (case_id, title) VALUES (1, 'x')")
        assert conn.execute("SELECT status FROM forensics.cases").fetchone()[0] == "open"
    finally:
        conn.close()
    assert create_table_sql(parsed, catalog="db").startswith('CREATE TABLE "db"."forensics"."cases"')


# ---------------------------------------------------------------------------
# plan_table on hand-built states (as introspection returns them)
# ---------------------------------------------------------------------------

def state(columns=None, primary_key=None, unique=None, checks=None, indexes=None, check_columns=None):
    return {
        "schema": "forensics",
        "name": "cases",
        "columns": columns if columns is not None else [
            {"name": "case_id", "type": "INTEGER", "nullable": False, "default": None},
            {"name": "title", "type": "VARCHAR", "nullable": False, "default": None},
            {"name": "budget", "type": "DECIMAL(12,2)", "nullable": True, "default": None},
        ],
        "primary_key": primary_key if primary_key is not None else ["case_id"],
        "unique": unique or [],
        "checks": checks or [],
        "check_columns": check_columns or {},
        "indexes": indexes if indexes is not None else [
            {"name": "cases_title_idx", "unique": False, "expressions": "[title]",
             "sql": "CREATE INDEX cases_title_idx ON forensics.cases(title);", "columns": ["title"]},
        ],
    }


def with_column(st, column, **changes):
    st = copy.deepcopy(st)
    for c in st["columns"]:
        if c["name"] == column:
            c.update(changes)
    return st


def test_plan_no_change():
    plan = plan_table(state(), state())
    assert plan["action"] == "none"
    assert plan["changes"] == [] and plan["statements"] == [] and plan["error"] is None


def test_plan_create():
    plan = plan_table(state(), None, catalog="db")
    assert plan["action"] == "create"
    assert plan["statements"][0].startswith('CREATE TABLE "db"."forensics"."cases"')
    assert plan["statements"][1] == 'CREATE INDEX "cases_title_idx" ON "db"."forensics"."cases" ("title")'


def test_plan_add_column_drops_and_recreates_indexes_around_alter():
    desired = state()
    desired["columns"].append({"name": "notes", "type": "VARCHAR", "nullable": True, "default": "'n/a'"})
    plan = plan_table(desired, state())
    assert plan["action"] == "alter"
    assert plan["changes"] == ["add column notes VARCHAR"]
    assert plan["destructive"] == [] and plan["error"] is None
    assert plan["statements"] == [
        'DROP INDEX "forensics"."cases_title_idx"',
        'ALTER TABLE "forensics"."cases" ADD COLUMN "notes" VARCHAR DEFAULT (\'n/a\')',
        'CREATE INDEX "cases_title_idx" ON "forensics"."cases" ("title")',
    ]


def test_plan_drop_column_is_destructive_and_needs_rebuild_with_primary_key():
    actual = state()
    desired = copy.deepcopy(actual)
    desired["columns"].pop()  # budget
    plan = plan_table(desired, actual)
    assert plan["destructive"] == ["drop column budget"]
    assert "allow_destructive" in plan["error"] and "allow_rebuild" in plan["error"]
    ok = plan_table(desired, actual, allow_destructive=True, allow_rebuild=True)
    assert ok["error"] is None and ok["action"] == "rebuild"
    insert = [s for s in ok["statements"] if s.startswith("INSERT")][0]
    assert '"budget"' not in insert


def test_plan_drop_column_in_place_without_keys():
    actual = state(primary_key=[], indexes=[])
    actual["columns"][0]["nullable"] = True
    desired = copy.deepcopy(actual)
    desired["columns"].pop()
    plan = plan_table(desired, actual, allow_destructive=True)
    assert plan["action"] == "alter"
    assert plan["statements"] == ['ALTER TABLE "forensics"."cases" DROP COLUMN "budget"']


def test_plan_lossless_type_change_in_place():
    desired = with_column(state(), "budget", type="DECIMAL(14,2)")
    plan = plan_table(desired, state())
    assert plan["changes"] == ["change type of budget from DECIMAL(12,2) to DECIMAL(14,2)"]
    assert plan["destructive"] == [] and plan["error"] is None
    assert 'ALTER TABLE "forensics"."cases" ALTER COLUMN "budget" SET DATA TYPE DECIMAL(14,2)' in plan["statements"]


def test_plan_lossy_type_change_refused():
    desired = with_column(state(), "budget", type="INTEGER")
    plan = plan_table(desired, state())
    assert plan["destructive"] == ["change type of budget from DECIMAL(12,2) to INTEGER (may lose data)"]
    assert plan["error"].startswith("refusing destructive changes to forensics.cases")
    assert plan_table(desired, state(), allow_destructive=True)["error"] is None


def test_plan_type_change_of_key_column_needs_rebuild_with_cast():
    desired = with_column(state(), "case_id", type="BIGINT")
    plan = plan_table(desired, state())
    assert plan["destructive"] == []
    assert "allow_rebuild" in plan["error"]
    plan = plan_table(desired, state(), allow_rebuild=True, catalog="db")
    assert plan["action"] == "rebuild"
    assert plan["statements"][0] == 'DROP TABLE IF EXISTS "db"."forensics"."cases__gw_rebuild"'
    assert 'SELECT CAST("case_id" AS BIGINT), "title", "budget" FROM "db"."forensics"."cases"' in plan["statements"][2]
    assert plan["statements"][3:] == [
        'DROP TABLE "db"."forensics"."cases"',
        'ALTER TABLE "db"."forensics"."cases__gw_rebuild" RENAME TO "cases"',
        'CREATE INDEX "cases_title_idx" ON "db"."forensics"."cases" ("title")',
    ]


def test_plan_checked_column_type_change_needs_rebuild():
    actual = state(checks=["(budget >= 0)"], check_columns={"(budget >= 0)": ["budget"]})
    desired = with_column(actual, "budget", type="DECIMAL(14,2)")
    assert plan_table(desired, actual)["rebuild_reasons"]


def test_plan_nullability_and_defaults():
    desired = with_column(state(), "title", nullable=True)
    desired = with_column(desired, "budget", nullable=False, default="0")
    plan = plan_table(desired, state())
    assert plan["changes"] == ["allow NULL in title", "set default of budget to 0 (was None)",
                               "set NOT NULL on budget"]
    assert 'ALTER TABLE "forensics"."cases" ALTER COLUMN "title" DROP NOT NULL' in plan["statements"]
    assert 'ALTER TABLE "forensics"."cases" ALTER COLUMN "budget" SET DEFAULT 0' in plan["statements"]
    back = plan_table(state(), desired)
    assert 'ALTER TABLE "forensics"."cases" ALTER COLUMN "budget" DROP DEFAULT' in back["statements"]


def test_plan_constraint_changes_need_rebuild():
    desired = state(checks=["(budget >= 0)"])
    plan = plan_table(desired, state())
    assert plan["changes"] == ["change constraints from [PRIMARY KEY (case_id)] to "
                               "[PRIMARY KEY (case_id); CHECK (budget >= 0)]"]
    assert plan["destructive"] == []
    assert "allow_rebuild" in plan["error"]
    assert plan_table(state(primary_key=["case_id", "title"]), state())["rebuild_reasons"]
    assert plan_table(state(unique=[["title"]]), state())["rebuild_reasons"]


def test_plan_index_changes_are_not_destructive():
    desired = state(indexes=[{"name": "cases_budget_idx", "unique": True, "expressions": "[budget]",
                              "sql": "x", "columns": ["budget"]}])
    plan = plan_table(desired, state())
    assert plan["changes"] == ["drop index cases_title_idx", "create index cases_budget_idx"]
    assert plan["error"] is None
    assert plan["statements"] == [
        'DROP INDEX "forensics"."cases_title_idx"',
        'CREATE UNIQUE INDEX "cases_budget_idx" ON "forensics"."cases" ("budget")',
    ]
    changed = state()
    changed["indexes"][0]["unique"] = True
    assert plan_table(changed, state())["changes"] == ["recreate index cases_title_idx"]


def test_plan_names_compare_case_insensitively():
    desired = state()
    desired["columns"][1]["name"] = "TITLE"
    desired["name"] = "CASES"
    assert plan_table(desired, state())["action"] == "none"


def test_plan_drop_table():
    plan = plan_table(None, state())
    assert plan["destructive"] == ["drop table forensics.cases"]
    assert "allow_destructive" in plan["error"]
    assert plan_table(None, state(), allow_destructive=True, catalog="c")["statements"] == [
        'DROP TABLE "c"."forensics"."cases"']
    assert plan_table(None, None)["statements"] == []


def test_render_state():
    text = render_state(state())
    assert text.startswith('CREATE TABLE "forensics"."cases" (\n    "case_id" INTEGER NOT NULL,')
    assert text.endswith("CREATE INDEX cases_title_idx ON forensics.cases(title);\n")
    assert render_state(None) == ""
