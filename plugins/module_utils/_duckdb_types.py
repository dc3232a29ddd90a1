# -*- coding: utf-8 -*-
# Copyright: Contributors to the groundwork.platform collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DuckDB identifier/literal quoting and data type parsing (pure, no I/O).

``parse_type`` turns a DuckDB type name as an operator writes it (``int``,
``TIMESTAMPTZ``, ``varchar[]``, ``STRUCT(a INT, b VARCHAR[])``,
``ENUM('open', 'closed')``, ``DECIMAL(12, 2)``...) into a small tree of tuples;
``render_type`` writes the tree back in the canonical spelling DuckDB itself
reports in ``duckdb_columns()`` (``INTEGER``, ``TIMESTAMP WITH TIME ZONE``,
``VARCHAR[]``, ``DECIMAL(12,2)``), so that desired and actual types compare
as equal strings.  ``is_lossless_conversion`` says whether changing a column's
type can be done without losing data.

Type tree nodes:
  ('scalar', NAME)                 INTEGER, VARCHAR, TIMESTAMP WITH TIME ZONE, ...
  ('decimal', precision, scale)
  ('list', child)                  child[]
  ('array', child, size)           child[size]
  ('struct', ((field, child), ...))
  ('union', ((member, child), ...))
  ('map', key, value)
  ('enum', (value, ...))
"""

from __future__ import annotations

import math
import re

__all__ = [
    "TypeParseError",
    "quote_ident",
    "quote_literal",
    "qualified_name",
    "parse_type",
    "render_type",
    "normalize_type",
    "is_lossless_conversion",
    "types_equal",
    "sql_value",
]


class TypeParseError(ValueError):
    """Raised when a type name is not a DuckDB type this collection knows."""


def quote_ident(name):
    """Quote an identifier for DuckDB: always double-quoted, embedded quotes doubled."""
    if not isinstance(name, str) or name == "":
        raise ValueError("identifier must be a non-empty string, got %r" % (name,))
    if "\x00" in name:
        raise ValueError("identifier must not contain NUL characters: %r" % (name,))
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value):
    """Quote a string as a SQL string literal (single quotes doubled)."""
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        raise ValueError("string literal must not contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


def qualified_name(schema, name, catalog=None):
    """``"schema"."name"`` (or ``"catalog"."schema"."name"``), every part quoted.

    Qualifying with the catalog (the database's name, which DuckDB derives
    from the file name) avoids DuckDB's "ambiguous reference" error when a
    schema has the same name as the database file, e.g. schema ``forensics``
    in ``forensics.duckdb``.
    """
    text = quote_ident(schema) + "." + quote_ident(name)
    return text if catalog is None else quote_ident(catalog) + "." + text


def sql_value(value):
    """Render a Python scalar/list/dict as a DuckDB literal.

    bool -> true/false, int/float -> number, str -> quoted string,
    None -> NULL, list -> [..] list literal, dict -> {'k': v} struct literal.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or value in (float("inf"), float("-inf")):
            raise ValueError("non-finite number %r cannot be used as a SQL literal" % (value,))
        return repr(value)
    if isinstance(value, str):
        return quote_literal(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(sql_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(
            "%s: %s" % (quote_literal(str(k)), sql_value(v)) for k, v in value.items()
        ) + "}"
    raise ValueError("unsupported literal value %r (type %s)" % (value, type(value).__name__))


# --------------------------------------------------------------------------
# Type names
# --------------------------------------------------------------------------

# alias (upper case, words joined by one space) -> canonical scalar name
_SCALAR_ALIASES = {
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN", "LOGICAL": "BOOLEAN",
    "TINYINT": "TINYINT", "INT1": "TINYINT",
    "SMALLINT": "SMALLINT", "INT2": "SMALLINT", "SHORT": "SMALLINT", "INT16": "SMALLINT",
    "INTEGER": "INTEGER", "INT": "INTEGER", "INT4": "INTEGER", "SIGNED": "INTEGER", "INT32": "INTEGER",
    "BIGINT": "BIGINT", "INT8": "BIGINT", "LONG": "BIGINT", "INT64": "BIGINT",
    "HUGEINT": "HUGEINT", "INT128": "HUGEINT",
    "UTINYINT": "UTINYINT", "UINT8": "UTINYINT",
    "USMALLINT": "USMALLINT", "UINT16": "USMALLINT",
    "UINTEGER": "UINTEGER", "UINT32": "UINTEGER",
    "UBIGINT": "UBIGINT", "UINT64": "UBIGINT",
    "UHUGEINT": "UHUGEINT", "UINT128": "UHUGEINT",
    "FLOAT": "FLOAT", "FLOAT4": "FLOAT", "REAL": "FLOAT",
    "DOUBLE": "DOUBLE", "FLOAT8": "DOUBLE", "DOUBLE PRECISION": "DOUBLE",
    "VARCHAR": "VARCHAR", "TEXT": "VARCHAR", "STRING": "VARCHAR", "CHAR": "VARCHAR",
    "BPCHAR": "VARCHAR", "NVARCHAR": "VARCHAR", "CHARACTER": "VARCHAR",
    "CHARACTER VARYING": "VARCHAR",
    "BLOB": "BLOB", "BYTEA": "BLOB", "BINARY": "BLOB", "VARBINARY": "BLOB",
    "DATE": "DATE",
    "TIME": "TIME", "TIME WITHOUT TIME ZONE": "TIME",
    "TIME_NS": "TIME_NS",
    "TIMETZ": "TIME WITH TIME ZONE", "TIME WITH TIME ZONE": "TIME WITH TIME ZONE",
    "TIMESTAMP": "TIMESTAMP", "DATETIME": "TIMESTAMP", "TIMESTAMP_US": "TIMESTAMP",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP_S", "TIMESTAMP_MS": "TIMESTAMP_MS", "TIMESTAMP_NS": "TIMESTAMP_NS",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP WITH TIME ZONE",
    "INTERVAL": "INTERVAL",
    "UUID": "UUID", "GUID": "UUID",
    "JSON": "JSON",
    "BIT": "BIT", "BITSTRING": "BIT",
    "BIGNUM": "BIGNUM", "VARINT": "BIGNUM",
    "VARIANT": "VARIANT",
}

# Names that accept (and ignore) a length argument, e.g. VARCHAR(255).
_LENGTH_IGNORED = {"VARCHAR", "BLOB", "BIT"}

# Multi-word spellings: first word -> list of continuations (longest first).
_MULTIWORD = {
    "DOUBLE": [("PRECISION",)],
    "CHARACTER": [("VARYING",)],
    "TIMESTAMP": [("WITH", "TIME", "ZONE"), ("WITHOUT", "TIME", "ZONE")],
    "TIME": [("WITH", "TIME", "ZONE"), ("WITHOUT", "TIME", "ZONE")],
}

_DECIMAL_NAMES = {"DECIMAL", "NUMERIC", "DEC"}
_DEFAULT_DECIMAL = (18, 3)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)


def _tokenize(text):
    pos = 0
    tokens = []
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise TypeParseError(
                "unexpected character %r at position %d in type %r" % (text[pos], pos, text)
            )
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "qident":
            tokens.append(("ident", value[1:-1].replace('""', '"')))
        elif kind == "string":
            tokens.append(("string", value[1:-1].replace("''", "'")))
        elif kind == "number":
            tokens.append(("number", int(value)))
        elif kind == "word":
            tokens.append(("word", value))
        elif kind == "punct":
            tokens.append(("punct", value))
        pos = match.end()
    return tokens


class _Parser(object):
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def error(self, message):
        return TypeParseError("%s in type %r" % (message, self.text))

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        if token[0] is None:
            raise self.error("unexpected end")
        self.pos += 1
        return token

    def expect_punct(self, char):
        kind, value = self.take()
        if kind != "punct" or value != char:
            raise self.error("expected %r but found %r" % (char, value))

    def at_punct(self, char):
        kind, value = self.peek()
        return kind == "punct" and value == char

    def parse(self):
        if not self.tokens:
            raise TypeParseError("type must not be empty")
        node = self.parse_type()
        if self.pos != len(self.tokens):
            raise self.error("unexpected %r after the type" % (self.peek()[1],))
        return node

    def parse_number(self):
        kind, value = self.take()
        if kind != "number":
            raise self.error("expected a number but found %r" % (value,))
        return value

    def parse_field_name(self):
        kind, value = self.take()
        if kind not in ("word", "ident"):
            raise self.error("expected a field name but found %r" % (value,))
        return value

    def parse_type(self):
        node = self.parse_base()
        # suffixes: [] / [N] / ARRAY
        while True:
            if self.at_punct("["):
                self.take()
                if self.at_punct("]"):
                    self.take()
                    node = ("list", node)
                else:
                    size = self.parse_number()
                    if size < 1:
                        raise self.error("array size must be at least 1")
                    self.expect_punct("]")
                    node = ("array", node, size)
                continue
            kind, value = self.peek()
            if kind == "word" and value.upper() == "ARRAY":
                self.take()
                node = ("list", node)
                continue
            break
        return node

    def parse_base(self):
        kind, value = self.take()
        if kind != "word":
            raise self.error("expected a type name but found %r" % (value,))
        name = value.upper()
        for continuation in _MULTIWORD.get(name, []):
            words = [self.peek(i) for i in range(len(continuation))]
            if all(k == "word" and v.upper() == want for (k, v), want in zip(words, continuation)):
                self.pos += len(continuation)
                name = " ".join((name,) + continuation)
                break

        if name in _DECIMAL_NAMES:
            if not self.at_punct("("):
                return ("decimal",) + _DEFAULT_DECIMAL
            self.take()
            precision = self.parse_number()
            scale = 0
            if self.at_punct(","):
                self.take()
                scale = self.parse_number()
            self.expect_punct(")")
            if not 1 <= precision <= 38:
                raise self.error("DECIMAL precision must be between 1 and 38, got %d" % precision)
            if scale > precision:
                raise self.error("DECIMAL scale %d is larger than its precision %d" % (scale, precision))
            return ("decimal", precision, scale)

        if name in ("STRUCT", "UNION"):
            self.expect_punct("(")
            fields = []
            seen = set()
            while True:
                field = self.parse_field_name()
                if field.lower() in seen:
                    raise self.error("duplicate %s field %r" % (name, field))
                seen.add(field.lower())
                fields.append((field, self.parse_type()))
                if self.at_punct(","):
                    self.take()
                    continue
                self.expect_punct(")")
                break
            return (name.lower(), tuple(fields))

        if name == "MAP":
            self.expect_punct("(")
            key = self.parse_type()
            self.expect_punct(",")
            value_type = self.parse_type()
            self.expect_punct(")")
            return ("map", key, value_type)

        if name == "ENUM":
            self.expect_punct("(")
            values = []
            while True:
                kind, value = self.take()
                if kind != "string":
                    raise self.error("ENUM values must be quoted strings, found %r" % (value,))
                if value in values:
                    raise self.error("duplicate ENUM value %r" % (value,))
                values.append(value)
                if self.at_punct(","):
                    self.take()
                    continue
                self.expect_punct(")")
                break
            return ("enum", tuple(values))

        if name not in _SCALAR_ALIASES:
            raise self.error("unknown type name %r" % (value,))
        canonical = _SCALAR_ALIASES[name]
        if self.at_punct("("):
            if canonical not in _LENGTH_IGNORED:
                raise self.error("type %s takes no arguments" % canonical)
            self.take()
            self.parse_number()
            self.expect_punct(")")
        return ("scalar", canonical)


def parse_type(text):
    """Parse a DuckDB type name into a type tree; raises TypeParseError."""
    if not isinstance(text, str):
        raise TypeParseError("type must be a string, got %s" % type(text).__name__)
    return _Parser(text).parse()


def _render_field(name):
    # Struct/union field names are always quoted: DuckDB accepts the quoted
    # form and it can never be misread as a keyword.  (DuckDB's own rendering
    # quotes only some names, so compare types with types_equal, not as text.)
    return quote_ident(name)


def render_type(node):
    """Canonical text for a type tree (the spelling DuckDB reports)."""
    kind = node[0]
    if kind == "scalar":
        return node[1]
    if kind == "decimal":
        return "DECIMAL(%d,%d)" % (node[1], node[2])
    if kind == "list":
        return render_type(node[1]) + "[]"
    if kind == "array":
        return "%s[%d]" % (render_type(node[1]), node[2])
    if kind in ("struct", "union"):
        return "%s(%s)" % (
            kind.upper(),
            ", ".join("%s %s" % (_render_field(f), render_type(t)) for f, t in node[1]),
        )
    if kind == "map":
        return "MAP(%s, %s)" % (render_type(node[1]), render_type(node[2]))
    if kind == "enum":
        return "ENUM(%s)" % ", ".join(quote_literal(v) for v in node[1])
    raise ValueError("unknown type node %r" % (node,))


def normalize_type(text):
    """Parse and re-render: ``'int[]'`` -> ``'INTEGER[]'``."""
    return render_type(parse_type(text))


def types_equal(left, right):
    """Compare two type names structurally (field-name case and quoting ignored)."""
    try:
        return _fold(parse_type(left)) == _fold(parse_type(right))
    except TypeParseError:
        return left.strip().upper() == right.strip().upper()


def _fold(node):
    kind = node[0]
    if kind in ("struct", "union"):
        return (kind, tuple((f.lower(), _fold(t)) for f, t in node[1]))
    if kind == "list":
        return ("list", _fold(node[1]))
    if kind == "array":
        return ("array", _fold(node[1]), node[2])
    if kind == "map":
        return ("map", _fold(node[1]), _fold(node[2]))
    return node


# --------------------------------------------------------------------------
# Lossless conversions
# --------------------------------------------------------------------------

# signed/unsigned integer widths (bits) and the number of decimal digits they need
_INT_BITS = {
    "TINYINT": (8, True), "SMALLINT": (16, True), "INTEGER": (32, True),
    "BIGINT": (64, True), "HUGEINT": (128, True),
    "UTINYINT": (8, False), "USMALLINT": (16, False), "UINTEGER": (32, False),
    "UBIGINT": (64, False), "UHUGEINT": (128, False),
}
_INT_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20, 128: 39}
# float mantissa bits: an integer of up to this many bits fits exactly
_FLOAT_EXACT_BITS = {"FLOAT": 24, "DOUBLE": 53}
_TIMESTAMP_RANK = {"TIMESTAMP_S": 0, "TIMESTAMP_MS": 1, "TIMESTAMP": 2, "TIMESTAMP_NS": 3}


def _int_fits(src, dst):
    sbits, ssigned = _INT_BITS[src]
    dbits, dsigned = _INT_BITS[dst]
    if ssigned and not dsigned:
        return False
    if ssigned == dsigned:
        return dbits >= sbits
    return dbits > sbits  # unsigned -> signed needs one more bit


def _lossless(src, dst):
    if _fold(src) == _fold(dst):
        return True
    skind, dkind = src[0], dst[0]
    if dkind == "scalar" and dst[1] == "VARCHAR":
        # every DuckDB value has a text form that casts back to the same value
        return True
    if skind == "scalar" and dkind == "scalar":
        s, d = src[1], dst[1]
        if s in _INT_BITS and d in _INT_BITS:
            return _int_fits(s, d)
        if s in _INT_BITS and d in _FLOAT_EXACT_BITS:
            bits, signed = _INT_BITS[s]
            return bits - (1 if signed else 0) <= _FLOAT_EXACT_BITS[d]
        if s == "FLOAT" and d == "DOUBLE":
            return True
        if s == "DATE" and d in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            return True
        if s in _TIMESTAMP_RANK and d in _TIMESTAMP_RANK:
            return _TIMESTAMP_RANK[d] >= _TIMESTAMP_RANK[s]
        if s == "JSON" and d == "VARCHAR":
            return True
        if s == "UUID" and d == "VARCHAR":
            return True
        return False
    if skind == "scalar" and dkind == "decimal" and src[1] in _INT_BITS:
        bits, _signed = _INT_BITS[src[1]]
        return dst[1] - dst[2] >= _INT_DIGITS[bits]
    if skind == "decimal" and dkind == "decimal":
        return dst[2] >= src[2] and (dst[1] - dst[2]) >= (src[1] - src[2])
    if skind == "decimal" and dkind == "scalar" and dst[1] == "DOUBLE":
        return src[1] <= 15
    if skind == "enum" and dkind == "enum":
        return set(src[1]).issubset(set(dst[1]))
    if skind == "list" and dkind == "list":
        return _lossless(src[1], dst[1])
    if skind == "array" and dkind == "list":
        return _lossless(src[1], dst[1])
    if skind == "array" and dkind == "array":
        return src[2] == dst[2] and _lossless(src[1], dst[1])
    if skind == "map" and dkind == "map":
        return _fold(src[1]) == _fold(dst[1]) and _lossless(src[2], dst[2])
    if skind == "struct" and dkind == "struct":
        # same fields in the same order, each widened losslessly
        if len(src[1]) != len(dst[1]):
            return False
        return all(
            sf.lower() == df.lower() and _lossless(st, dt)
            for (sf, st), (df, dt) in zip(src[1], dst[1])
        )
    return False


def is_lossless_conversion(old_type, new_type):
    """True when every value of ``old_type`` survives a cast to ``new_type``.

    Conservative: unknown combinations count as lossy.  Examples of lossless
    changes: INTEGER -> BIGINT, FLOAT -> DOUBLE, DECIMAL(10,2) -> DECIMAL(12,2),
    DATE -> TIMESTAMP, ENUM('a') -> ENUM('a', 'b'), anything -> VARCHAR,
    INTEGER[] -> BIGINT[].  Lossy: BIGINT -> INTEGER, VARCHAR -> INTEGER,
    TIMESTAMP -> TIMESTAMP WITH TIME ZONE (reinterpreted in the session time zone).
    """
    try:
        return _lossless(parse_type(old_type), parse_type(new_type))
    except TypeParseError:
        return False
