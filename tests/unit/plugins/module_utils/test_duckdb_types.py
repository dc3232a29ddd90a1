# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Type parsing/normalisation, quoting and lossless-conversion rules."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.groundwork.platform.plugins.module_utils._duckdb_types import (
    TypeParseError,
    is_lossless_conversion,
    normalize_type,
    parse_type,
    qualified_name,
    quote_ident,
    quote_literal,
    sql_value,
    types_equal,
)


@pytest.mark.parametrize("text, expected", [
    ("int", "INTEGER"),
    ("INT4", "INTEGER"),
    ("integer", "INTEGER"),
    ("bigint", "BIGINT"),
    ("int8", "BIGINT"),
    ("smallint", "SMALLINT"),
    ("tinyint", "TINYINT"),
    ("hugeint", "HUGEINT"),
    ("ubigint", "UBIGINT"),
    ("bool", "BOOLEAN"),
    ("real", "FLOAT"),
    ("double precision", "DOUBLE"),
    ("float8", "DOUBLE"),
    ("text", "VARCHAR"),
    ("string", "VARCHAR"),
    ("varchar(255)", "VARCHAR"),
    ("character varying(20)", "VARCHAR"),
    ("decimal", "DECIMAL(18,3)"),
    ("numeric(10)", "DECIMAL(10,0)"),
    ("decimal( 12 , 2 )", "DECIMAL(12,2)"),
    ("dec(38,10)", "DECIMAL(38,10)"),
    ("timestamptz", "TIMESTAMP WITH TIME ZONE"),
    ("timestamp with time zone", "TIMESTAMP WITH TIME ZONE"),
    ("timestamp without time zone", "TIMESTAMP"),
    ("datetime", "TIMESTAMP"),
    ("timestamp_ns", "TIMESTAMP_NS"),
    ("timetz", "TIME WITH TIME ZONE"),
    ("date", "DATE"),
    ("interval", "INTERVAL"),
    ("uuid", "UUID"),
    ("guid", "UUID"),
    ("json", "JSON"),
    ("bytea", "BLOB"),
    ("varchar[]", "VARCHAR[]"),
    ("text[][]", "VARCHAR[][]"),
    ("integer array", "INTEGER[]"),
    ("double[3]", "DOUBLE[3]"),
    ("map(varchar, int[])", "MAP(VARCHAR, INTEGER[])"),
    ("struct(a int, b varchar[])", 'STRUCT("a" INTEGER, "b" VARCHAR[])'),
    ('STRUCT("my field" INT, "x""y" TEXT)', 'STRUCT("my field" INTEGER, "x""y" VARCHAR)'),
    ("union(num int, txt text)", 'UNION("num" INTEGER, "txt" VARCHAR)'),
    ("enum('open', 'closed')", "ENUM('open', 'closed')"),
    ("ENUM('it''s','b')", "ENUM('it''s', 'b')"),
    ("struct(a struct(b int[]), c map(int, int))[]",
     'STRUCT("a" STRUCT("b" INTEGER[]), "c" MAP(INTEGER, INTEGER))[]'),
])
def test_normalize_type(text, expected):
    assert normalize_type(text) == expected


# Every type DuckDB accepts must normalise to something DuckDB reports as the
# same type: create a column with the raw text and with our rendering.
CROSS_CHECK = [
    "int", "bigint", "decimal", "numeric(10)", "decimal(12,2)", "timestamptz", "uuid", "json",
    "varchar[]", "double[3]", "map(varchar, int[])", "struct(a int, \"B c\" varchar[])",
    "struct(name varchar, \"select\" int, Upper int)", "union(a int, b text)", "enum('x', 'y''z')",
    "text", "blob", "interval", "time", "timetz", "timestamp_ms", "hugeint", "uhugeint", "bit",
    "integer array", "struct(a struct(b int[]), c map(int, int))[]",
]


@pytest.mark.parametrize("text", CROSS_CHECK)
def test_rendering_matches_duckdb(text):
    conn = duckdb.connect()
    try:
        conn.execute("CREATE TABLE raw (c %s)" % text)
        conn.execute("CREATE TABLE ours (c %s)" % normalize_type(text))
        raw, ours = [conn.execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = ?", [t]).fetchone()[0]
            for t in ("raw", "ours")]
    finally:
        conn.close()
    assert raw == ours
    # and our structural comparison agrees with DuckDB's spelling
    assert types_equal(raw, normalize_type(text))
    assert types_equal(normalize_type(raw), normalize_type(text))


@pytest.mark.parametrize("text, fragment", [
    ("", "must not be empty"),
    ("intt", "unknown type name 'intt'"),
    ("decimal(40,2)", "precision must be between 1 and 38"),
    ("decimal(5,6)", "scale 6 is larger than its precision 5"),
    ("integer(3)", "takes no arguments"),
    ("varchar[", "unexpected end"),
    ("varchar[0]", "array size must be at least 1"),
    ("struct(a int, a text)", "duplicate STRUCT field"),
    ("struct()", "expected a field name"),
    ("enum(a, b)", "ENUM values must be quoted strings"),
    ("enum('a', 'a')", "duplicate ENUM value"),
    ("map(int)", "expected ','"),
    ("int; drop table x", "unexpected character ';'"),
    ("int extra", "unexpected 'extra' after the type"),
])
def test_bad_types(text, fragment):
    with pytest.raises(TypeParseError) as err:
        parse_type(text)
    assert fragment in str(err.value)


def test_parse_type_rejects_non_strings():
    with pytest.raises(TypeParseError):
        parse_type(5)


@pytest.mark.parametrize("old, new", [
    ("INTEGER", "BIGINT"),
    ("TINYINT", "SMALLINT"),
    ("UINTEGER", "BIGINT"),
    ("SMALLINT", "FLOAT"),
    ("INTEGER", "DOUBLE"),
    ("FLOAT", "DOUBLE"),
    ("DECIMAL(10,2)", "DECIMAL(12,2)"),
    ("DECIMAL(10,2)", "DECIMAL(11,3)"),
    ("INTEGER", "DECIMAL(12,2)"),
    ("DATE", "TIMESTAMP"),
    ("TIMESTAMP_MS", "TIMESTAMP"),
    ("ENUM('a')", "ENUM('a', 'b')"),
    ("BIGINT", "VARCHAR"),
    ("JSON", "VARCHAR"),
    ("INTEGER[]", "BIGINT[]"),
    ("INTEGER[3]", "BIGINT[]"),
    ("MAP(VARCHAR, INTEGER)", "MAP(VARCHAR, BIGINT)"),
    ("STRUCT(a INTEGER, b FLOAT)", "STRUCT(a BIGINT, b DOUBLE)"),
    ("VARCHAR", "text"),
])
def test_lossless_conversions(old, new):
    assert is_lossless_conversion(old, new)


@pytest.mark.parametrize("old, new", [
    ("BIGINT", "INTEGER"),
    ("INTEGER", "UINTEGER"),
    ("UINTEGER", "INTEGER"),
    ("BIGINT", "DOUBLE"),
    ("INTEGER", "FLOAT"),
    ("DOUBLE", "FLOAT"),
    ("DECIMAL(12,2)", "DECIMAL(10,2)"),
    ("DECIMAL(12,3)", "DECIMAL(12,2)"),
    ("BIGINT", "DECIMAL(12,2)"),
    ("VARCHAR", "INTEGER"),
    ("VARCHAR", "JSON"),
    ("TIMESTAMP", "DATE"),
    ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE"),
    ("TIMESTAMP_NS", "TIMESTAMP"),
    ("ENUM('a', 'b')", "ENUM('a')"),
    ("VARCHAR[]", "INTEGER[]"),
    ("INTEGER[]", "INTEGER[3]"),
    ("STRUCT(a INTEGER)", "STRUCT(a INTEGER, b INTEGER)"),
    ("not a type", "INTEGER"),
])
def test_lossy_conversions(old, new):
    assert not is_lossless_conversion(old, new)


def test_quote_ident_and_literal():
    assert quote_ident("events") == '"events"'
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"
    assert qualified_name("forensics", "events") == '"forensics"."events"'
    assert qualified_name("s", "t", "db") == '"db"."s"."t"'
    for bad in ("", None, "a\x00b"):
        with pytest.raises(ValueError):
            quote_ident(bad)


def test_sql_value():
    assert sql_value(None) == "NULL"
    assert sql_value(True) == "true"
    assert sql_value(3) == "3"
    assert sql_value(2.5) == "2.5"
    assert sql_value("a'b") == "'a''b'"
    assert sql_value([1, "x"]) == "[1, 'x']"
    assert sql_value({"a": "VARCHAR"}) == "{'a': 'VARCHAR'}"
    with pytest.raises(ValueError):
        sql_value(float("nan"))
    with pytest.raises(ValueError):
        sql_value(object())


_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(name=_names, text=_names)
def test_quoting_round_trips_through_duckdb(name, text):
    """Whatever the identifier or string, DuckDB reads back exactly what we quoted."""
    conn = duckdb.connect()
    try:
        cursor = conn.execute("SELECT %s AS %s" % (quote_literal(text), quote_ident(name)))
        assert cursor.description[0][0] == name
        assert cursor.fetchone()[0] == text
    finally:
        conn.close()
