"""Reads for the sharing API, each limited to what the client's scope covers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from population.db_router import read_connection
from population.identity import InvalidCitizenId, parse_citizen_id
from population.models import ChangeEvent, Person, PersonStatus
from population.selectors import change_feed_window, person_get_by_citizen_id
from population.sharing.models import ApiClient


def person_in_scope(*, client: ApiClient, person: Person) -> bool:
    """Whether the person lies in the client's regions (an empty list means the whole city)."""
    if not client.region_prefixes:
        return True
    regions = (person.hukou_region_id or "", person.residence_region_id or "")
    return any(r.startswith(p) for r in regions if r for p in client.region_prefixes)


def person_get_for_client(*, client: ApiClient, citizen_id: str) -> Person | None:
    """The person, or None when unknown or outside the client's scope (never told apart)."""
    person = person_get_by_citizen_id(citizen_id=citizen_id)
    if person is None or not person_in_scope(client=client, person=person):
        return None
    return person


@dataclass(frozen=True)
class VerificationItem:
    citizen_id: str
    name: str
    birth_date: dt.date | None = None


def verifications_match(
    *, client: ApiClient, items: list[VerificationItem]
) -> tuple[list[bool], list[int]]:
    """Match or no-match per item, and the ids of the persons matched, in one query.

    A match needs a living person with this current number and exactly this name (and birth
    date, when given) inside the client's regions. An invalid number is a no-match.
    """
    numbers: list[str | None] = []
    for item in items:
        try:
            numbers.append(str(parse_citizen_id(item.citizen_id)))
        except InvalidCitizenId:
            numbers.append(None)
    sql = f"""
        SELECT q.i, p.id
        FROM unnest(%s::int[], %s::text[], %s::text[], %s::date[]) AS q(i, cid, name, born)
        JOIN {Person._meta.db_table} p
          ON p.citizen_id = q.cid AND p.name = q.name
         AND (q.born IS NULL OR p.birth_date = q.born)
         AND p.status = %s
        WHERE %s::text[] = '{{}}'
           OR p.hukou_region_id LIKE ANY(%s) OR p.residence_region_id LIKE ANY(%s)
    """  # noqa: S608 (only the table name is interpolated)
    prefixes = [f"{p}%" for p in client.region_prefixes]
    with read_connection().cursor() as cursor:
        cursor.execute(
            sql,
            [
                list(range(len(items))),
                numbers,
                [item.name.strip() for item in items],
                [item.birth_date for item in items],
                PersonStatus.ACTIVE,
                client.region_prefixes,
                prefixes,
                prefixes,
            ],
        )
        rows = cursor.fetchall()
    matched = [False] * len(items)
    for index, _person_id in rows:
        matched[index] = True
    return matched, sorted({person_id for _, person_id in rows})


@dataclass(frozen=True)
class ChangeRow:
    id: int
    kind: str
    effective_date: dt.date | None
    recorded_at: dt.datetime
    person_id: int
    citizen_id: str


def changes_page(*, client: ApiClient, after: int, limit: int) -> list[ChangeRow]:
    """The next changes after id ``after`` of the kinds the client subscribes to, in order.
    Bounded in time too (``change_feed_window``): only the months from the cursor's on are read."""
    if not client.change_kinds:
        return []
    sql = f"""
        SELECT c.id, c.kind, c.effective_date, c.recorded_at, c.person_id, p.citizen_id
        FROM {ChangeEvent._meta.db_table} c
        JOIN {Person._meta.db_table} p ON p.id = c.person_id
        WHERE c.id > %s AND c.recorded_at >= %s AND c.recorded_at < %s AND c.kind = ANY(%s)
          AND (%s::text[] = '{{}}' OR EXISTS (
                SELECT 1 FROM unnest(c.regions) r WHERE r LIKE ANY(%s)))
        ORDER BY c.id
        LIMIT %s
    """  # noqa: S608 (only table names are interpolated)
    with read_connection().cursor() as cursor:
        since, until = change_feed_window(cursor, after=after)
        cursor.execute(
            sql,
            [
                after,
                since or "-infinity",
                until or "infinity",
                client.change_kinds,
                client.region_prefixes,
                [f"{p}%" for p in client.region_prefixes],
                limit,
            ],
        )
        return [ChangeRow(*row) for row in cursor.fetchall()]
