"""The per-row checks of ``parsing.row_converter`` as one SQL pass over raw staged values.

``row_ok`` is at least as strict as the Python checks: a row it passes, Python passes with the
same values; a row it fails goes back to Python, which rejects it with the precise reason or
(for what only Python normalises: a 15-digit or lower-case-x ID, full-width digits, padded
text) converts it. So the two never disagree on what is stored.
"""

from __future__ import annotations

from population.sync.feeds import CITIZEN_ID, DATE, DECIMAL, INT, REGION, TYPED_FIELDS, Column
from population.sync.parsing import _MAX_TEXT, MAX_DETAIL_TEXT

# Python's str.strip() whitespace, so that SQL passes no value Python would have trimmed; as one
# btrim argument (folded to a constant when the statement is planned): a value equal to its
# trimmed self neither starts nor ends with one, at half the cost of a pattern.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_WS_CHARS = "(" + " || ".join(f"chr({ord(c)})" for c in WHITESPACE) + ")"

# GB 11643 weights 2^(17-i) mod 11 and check characters.
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def _date_ok(y: str, m: str, d: str) -> str:
    """Year, month and day (integer expressions) form a real date."""
    leap = f"CASE WHEN {m} = 2 AND mod({y}, 4) = 0 AND (mod({y}, 100) <> 0 OR mod({y}, 400) = 0)"
    return (
        f"({y} >= 1 AND {m} BETWEEN 1 AND 12 AND {d} >= 1 AND {d} <= "
        f"(ARRAY[31,28,31,30,31,30,31,31,30,31,30,31])[{m}] + {leap} THEN 1 ELSE 0 END)"
    )


def _citizen_id_ok(v: str) -> str:
    """The fast path of parsing._citizen_id: 18 characters, check digit, a past birth date."""
    total = " + ".join(f"substr({v}, {i + 1}, 1)::int * {w}" for i, w in enumerate(_WEIGHTS))
    ymd = (f"substr({v}, 7, 4)::int", f"substr({v}, 11, 2)::int", f"substr({v}, 13, 2)::int")
    return (
        f"CASE WHEN {v} ~ '^[0-9]{{17}}[0-9X]$' THEN"
        f" substr('10X98765432', mod({total}, 11) + 1, 1) = substr({v}, 18, 1)"
        f" AND {_date_ok(*ymd)} AND substr({v}, 7, 8) <= %(today_compact)s ELSE false END"
    )


def _digits(v: str, lengths: str) -> str:
    """``v`` is ``lengths`` ASCII digits (a trim and a length: a regex costs twice as much)."""
    return f"(octet_length({v}) {lengths} AND ltrim({v}, '0123456789') = '')"


# Every calendar day of 1900-2099 in ISO form, hashed once per statement: a date is checked by
# one lookup instead of a pattern and its arithmetic (a third of the cost). A real date outside
# these years goes to Python, which judges it (the SQL pass may be stricter, never looser).
_ISO_DAYS = (
    "(SELECT to_char(d, 'YYYY-MM-DD') FROM generate_series("
    "TIMESTAMP '1900-01-01', TIMESTAMP '2099-12-31', interval '1 day') d)"
)

_CHECKS = {
    CITIZEN_ID: _citizen_id_ok,
    DATE: lambda v: f"{v} IN {_ISO_DAYS}",
    INT: lambda v: _digits(v, "BETWEEN 1 AND 9"),
    DECIMAL: lambda v: f"{v} ~ '^[0-9]{{1,12}}(\\.[0-9]{{1,2}})?$'",
    REGION: lambda v: _digits(v, "= 12"),
}
_CASTS = {DATE: "::date", INT: "::integer", DECIMAL: "::numeric(14, 2)"}


def raw_column(i: int) -> str:
    return f"c{i}"


# Types whose check is an anchored pattern of digits: it also excludes padding and overlength.
_STRICT = {CITIZEN_ID, DATE, INT, DECIMAL, REGION}


def row_ok(columns: tuple[Column, ...], *, known: dict[str, str] | None = None) -> str:
    """A boolean SQL expression over the raw columns c0..cN (true: the row is good).

    ``known`` maps a citizen-ID field to an expression that is true when the value equals a
    citizen ID of the library (the judgement's join found the person): such a value passed
    every check when the person was recorded, so the check digit and date are not recomputed.
    """
    known = known or {}
    parts = []
    by_field = {}
    for i, column in enumerate(columns):
        c = raw_column(i)
        v = f"coalesce({c}, '')"
        limit = _MAX_TEXT.get(column.field, MAX_DETAIL_TEXT)
        if column.type not in _STRICT:
            parts.append(f"{v} = btrim({v}, {_WS_CHARS})")
            parts.append(f"char_length({v}) <= {limit}")
        if column.required:
            parts.append(f"{v} <> ''")
        check = _CHECKS.get(column.type)
        if check:
            found = known.get(column.field)
            shortcut = f"{found} OR " if found and column.type == CITIZEN_ID else ""
            parts.append(f"({shortcut}{v} = '' OR {check(v)})")
        if column.field != "detail":
            by_field[column.field] = v
    if "valid_from" in by_field and "valid_to" in by_field:
        vf, vt = by_field["valid_from"], by_field["valid_to"]
        parts.append(f"({vf} = '' OR {vt} = '' OR {vt} >= {vf})")  # ISO dates compare as text
    if "event_date" in by_field:
        parts.append(f"{by_field['event_date']} <= %(today)s")
    if "counterpart_citizen_id" in by_field:
        parts.append(f"{by_field['counterpart_citizen_id']} <> {by_field['citizen_id']}")
    return "coalesce(" + "\n AND ".join(parts) + ", false)"


def typed_select(columns: tuple[Column, ...]) -> str:
    """SELECT list giving line_no, TYPED_FIELDS and detail from the raw columns of a good row."""
    by_field = {}
    for i, column in enumerate(columns):
        if column.field != "detail":
            by_field[column.field] = f"NULLIF({raw_column(i)}, ''){_CASTS.get(column.type, '')}"
    items = ["line_no"] + [by_field.get(f, "NULL") for f in TYPED_FIELDS]
    items.append(_detail(columns))
    return ", ".join(items)


# Fact columns of the typed fields (the reported name is the row's ``name``); text ones hold ''
# when empty, the others NULL.
_FACT_COLUMN = {"name": "reported_name"}
_TEXT_FIELDS = {"name", "counterpart_citizen_id", "org", "region_code"}


def same_as_fact(columns: tuple[Column, ...], *, counterpart_id: str) -> str:
    """True when fact ``f`` already holds what this raw row would write, for person ``p``.

    Compared as text against the raw values, so no raw value is cast before it is checked: a
    date, number or amount matches only in the canonical form PostgreSQL prints (``12``,
    ``2025-01-31``, ``86.50``), which is a valid value; any other spelling is judged in full.
    A fact changed by anyone since (an officer, another batch) no longer matches.
    """
    by_field = {}
    for i, column in enumerate(columns):
        if column.field != "detail":
            by_field[column.field] = raw_column(i)
    parts = ["f.person_id = p.id", f"f.counterpart_id IS NOT DISTINCT FROM {counterpart_id}"]
    for field in TYPED_FIELDS:
        if field in ("record_no", "citizen_id"):
            continue
        raw = by_field.get(field)
        column = _FACT_COLUMN.get(field, field)
        if field in _TEXT_FIELDS:
            parts.append(f"f.{column} = coalesce(r.{raw}, '')" if raw else f"f.{column} = ''")
        elif raw:
            parts.append(f"coalesce(f.{column}::text, '') = coalesce(r.{raw}, '')")
        else:
            parts.append(f"f.{column} IS NULL")
    parts.append(f"f.detail = {_detail(columns, prefix='r.')}")
    # No fact (a new record) or no person: false at once, without comparing every column to
    # NULL and building the detail (an AND goes on past a NULL, it stops only at false).
    return (
        "CASE WHEN f.id IS NULL OR p.id IS NULL THEN false ELSE coalesce("
        + " AND ".join(parts)
        + ", false) END"
    )


def _detail(columns: tuple[Column, ...], *, prefix: str = "") -> str:
    detail = [
        f"'{column.name}', NULLIF({prefix}{raw_column(i)}, '')"
        for i, column in enumerate(columns)
        if column.field == "detail"
    ]
    if not detail:
        return "'{}'::jsonb"
    return f"jsonb_strip_nulls(jsonb_build_object({', '.join(detail)}))"
