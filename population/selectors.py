"""Reads from the base library. Hot reads are single index lookups."""

from __future__ import annotations

import datetime as dt
import functools

from django.db import connection

from population import partitions
from population.db_router import read_connection
from population.identity import InvalidCitizenId, parse_citizen_id
from population.models import ChangeFeedMonth, CitizenIdCorrection, Person, Region


@functools.cache
def _person_by_id_sql() -> tuple[str, list[str], list[str]]:
    """The lookup's SQL, built once from the models' metadata.

    Compiling an ORM query costs more than running this one on an index (see
    bench/bench_person_lookup.py), and this read is the hottest in the system.
    """
    person_cols = [f.attname for f in Person._meta.concrete_fields]
    region_cols = [f.attname for f in Region._meta.concrete_fields]
    select = ", ".join(
        [f'p."{c}"' for c in person_cols]
        + [f'h."{c}"' for c in region_cols]
        + [f'r."{c}"' for c in region_cols]
    )
    # The current number first, else the latest correction away from it: one statement, so a
    # number that is unknown, current or former takes the same path (timing tells nothing).
    # Only model metadata (table and column names) is interpolated; the ID is a parameter.
    corrections = CitizenIdCorrection._meta.db_table
    sql = (
        f"SELECT {select} FROM {Person._meta.db_table} p"  # noqa: S608
        f' LEFT JOIN {Region._meta.db_table} h ON h."code" = p."hukou_region_id"'
        f' LEFT JOIN {Region._meta.db_table} r ON r."code" = p."residence_region_id"'
        ' WHERE p."id" = (SELECT m.id FROM ('
        f' SELECT c."id", 0 AS k FROM {Person._meta.db_table} c WHERE c."citizen_id" = %(n)s'
        " UNION ALL"
        f' (SELECT o."person_id", 1 FROM {corrections} o WHERE o."old_citizen_id" = %(n)s'
        '  ORDER BY o."corrected_at" DESC LIMIT 1)'
        " ) m ORDER BY m.k LIMIT 1)"
    )
    return sql, person_cols, region_cols


def _region(values: tuple, columns: list[str]) -> Region | None:
    return None if values[0] is None else Region.from_db(connection.alias, columns, values)


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
    sql, person_cols, region_cols = _person_by_id_sql()
    # On a replica when the request reads from one (population/db_router.py).
    db = read_connection(Person)
    with db.cursor() as cursor:
        cursor.execute(sql, {"n": number})
        row = cursor.fetchone()
    if row is None:
        return None
    n, m = len(person_cols), len(region_cols)
    person = Person.from_db(db.alias, person_cols, row[:n])
    Person.hukou_region.field.set_cached_value(person, _region(row[n : n + m], region_cols))
    Person.residence_region.field.set_cached_value(person, _region(row[n + m :], region_cols))
    return person


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
