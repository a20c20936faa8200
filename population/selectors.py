"""Reads from the base library. Hot reads are single index lookups."""

from __future__ import annotations

import datetime as dt
import functools

from population import partitions
from population.db_router import read_connection
from population.identity import InvalidCitizenId, parse_citizen_id
from population.models import ChangeFeedMonth, CitizenIdCorrection, Person, Region


@functools.cache
def person_row_columns() -> tuple[list[str], list[str]]:
    """The person's and a region's column names, in the order ``person_row_sql`` selects them."""
    return (
        [f.attname for f in Person._meta.concrete_fields],
        [f.attname for f in Region._meta.concrete_fields],
    )


@functools.cache
def person_row_sql() -> tuple[str, str, int, int]:
    """How the raw person reads select a person with both its regions in one row, built once
    from the models' metadata: the select list (person ``p``, hukou region ``h``, residence
    region ``r``), the two region joins, and the number of person and of region columns (for
    ``person_from_row``)."""
    person_cols, region_cols = person_row_columns()
    select = ", ".join(
        [f'p."{c}"' for c in person_cols]
        + [f'h."{c}"' for c in region_cols]
        + [f'r."{c}"' for c in region_cols]
    )
    region = Region._meta.db_table
    joins = (
        f' LEFT JOIN {region} h ON h."code" = p."hukou_region_id"'
        f' LEFT JOIN {region} r ON r."code" = p."residence_region_id"'
    )
    return select, joins, len(person_cols), len(region_cols)


@functools.cache
def person_id_by_number_sql() -> str:
    """The id of the person whose number is ``%(n)s``: the current number first, else the
    latest correction away from it. One statement, so a number that is unknown, current or
    former takes the same path (timing tells nothing). Only model metadata (table and column
    names) is interpolated; the number is a parameter."""
    person, corrections = Person._meta.db_table, CitizenIdCorrection._meta.db_table
    return (
        "(SELECT m.id FROM ("  # noqa: S608 (metadata only)
        f' SELECT q."id", 0 AS k FROM {person} q WHERE q."citizen_id" = %(n)s'
        " UNION ALL"
        f' (SELECT o."person_id", 1 FROM {corrections} o WHERE o."old_citizen_id" = %(n)s'
        '  ORDER BY o."corrected_at" DESC LIMIT 1)'
        " ) m ORDER BY m.k LIMIT 1)"
    )


def person_from_row(row: tuple, *, alias: str) -> Person:
    """The person of a row selected by ``person_row_sql``'s list, with both regions cached."""
    person_cols, region_cols = person_row_columns()
    n, m = len(person_cols), len(region_cols)
    person = Person.from_db(alias, person_cols, row[:n])
    hukou, residence = row[n : n + m], row[n + m :]
    Person.hukou_region.field.set_cached_value(person, _region(hukou, region_cols, alias=alias))
    Person.residence_region.field.set_cached_value(
        person, _region(residence, region_cols, alias=alias)
    )
    return person


def _region(values: tuple, columns: list[str], *, alias: str) -> Region | None:
    return None if values[0] is None else Region.from_db(alias, columns, values)


@functools.cache
def _person_by_id_sql() -> str:
    """The lookup's SQL, built once from the models' metadata.

    Compiling an ORM query costs more than running this one on an index (see
    bench/bench_person_lookup.py), and this read is the hottest in the system.
    """
    select, joins, _n, _m = person_row_sql()
    return (
        f"SELECT {select} FROM {Person._meta.db_table} p{joins}"  # noqa: S608 (metadata only)
        f' WHERE p."id" = {person_id_by_number_sql()}'
    )


def person_get_by_citizen_id(*, citizen_id: str) -> Person | None:
    """The person with this citizen ID, or with it as a corrected former number.

    Accepts what an officer types (full-width digits, lowercase x, a 15-digit number); an
    invalid number finds nobody rather than raising. One query whether the number is current,
    former or unknown, so the answer's timing does not tell which; hukou and residence regions
    come with the person.
    """
    try:
        number = str(parse_citizen_id(citizen_id))
    except InvalidCitizenId:
        return None
    # On a replica when the request reads from one (population/db_router.py).
    db = read_connection(Person)
    with db.cursor() as cursor:
        cursor.execute(_person_by_id_sql(), {"n": number})
        row = cursor.fetchone()
    return None if row is None else person_from_row(row, alias=db.alias)


def change_feed_window(cursor, *, after: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The time range holding every change with an id above ``after``: from the month the
    feed's month index places ``after`` in (its first month for a cursor before every change),
    to the end of the newest month recorded; None: no bound (no change yet). The change feed is
    partitioned by month on ``recorded_at``, which rises with the id
    (``population.services.change_record``, the only writer, which also writes the index): a
    read bounded by this range touches only the partitions from its cursor's month on. A change
    committed after this lookup in a newer month falls outside it only as a tail of the id
    order, read on the next page."""
    months = ChangeFeedMonth._meta.db_table
    cursor.execute(
        f"SELECT coalesce((SELECT month FROM {months} WHERE after_id <= %s"  # noqa: S608
        f" ORDER BY month DESC LIMIT 1), (SELECT min(month) FROM {months})),"
        f" (SELECT max(month) FROM {months})",
        [after],
    )
    since, newest = cursor.fetchone()

    def start(month: dt.date) -> dt.datetime:
        return dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)

    until = start(partitions.month_add(newest, 1)) if newest else None
    return (start(since) if since else None), until
