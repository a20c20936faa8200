"""Reads for the sharing API, each limited to what the client's scope covers."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection

from population.audit import ACCESS_LOG_INSERT, access_log_params, access_log_record
from population.db_router import read_alias, read_connection
from population.identity import InvalidCitizenId, citizen_id_number
from population.models import ChangeEvent, Person, PersonStatus
from population.selectors import (
    change_feed_window,
    person_from_row,
    person_get_by_citizen_id,
    person_id_by_number_sql,
    person_row_sql,
)
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


@functools.cache
def _person_read_logged_sql() -> str:
    """The person (current or former number) within the client's regions, and its access-log
    row, in one statement: a data-modifying CTE inserts the row for exactly the person the
    statement returns, in the statement's own transaction. Built once from model metadata."""
    select, joins, _n, _m = person_row_sql()
    log_insert = ACCESS_LOG_INSERT.format(ids='ARRAY[p."id"]')
    # As population.selectors.person_get_by_citizen_id, one path for current, former and
    # unknown numbers. The scope is person_in_scope's: hukou or residence region starting with
    # one of the prefixes.
    return (
        f"WITH p AS MATERIALIZED (SELECT * FROM {Person._meta.db_table} c"  # noqa: S608 (metadata only)
        f' WHERE c."id" = {person_id_by_number_sql()}'
        " AND (cardinality(%(prefixes)s::text[]) = 0 OR EXISTS ("
        "  SELECT 1 FROM unnest(%(prefixes)s::text[]) x"
        '  WHERE starts_with(c."hukou_region_id", x) OR starts_with(c."residence_region_id", x)'
        " ))),"
        f" a AS ({log_insert} FROM p)"
        f" SELECT {select} FROM p{joins}"
    )


def person_read_logged(
    *, client: ApiClient, citizen_id: str, user, channel: str, purpose: str, fields, address: str
) -> Person | None:
    """``person_get_for_client``, and the read logged (``access_log_record``'s arguments) when
    a person is returned; nothing is logged for an unknown or out-of-scope number.

    On the primary this is one statement, so the read and its log row are one round trip and
    one transaction. When the request reads from a replica, the person is read there and the
    row is written to the primary after it, as ``access_log_record`` does.
    """
    try:
        number = citizen_id_number(citizen_id)
    except InvalidCitizenId:
        return None
    if read_alias(Person) != DEFAULT_DB_ALIAS:
        person = person_get_for_client(client=client, citizen_id=number)
        if person is not None:
            access_log_record(
                user=user,
                channel=channel,
                purpose=purpose,
                person_ids=[person.pk],
                fields=fields,
                client=address,
            )
        return person
    log = access_log_params(
        user=user, channel=channel, purpose=purpose, fields=fields, client=address
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _person_read_logged_sql(), {"n": number, "prefixes": client.region_prefixes, **log}
        )
        row = cursor.fetchone()
    return None if row is None else person_from_row(row, alias=DEFAULT_DB_ALIAS)


@dataclass(frozen=True)
class VerificationItem:
    citizen_id: str
    name: str
    birth_date: dt.date | None = None


_MATCH_SQL = f"""
    SELECT q.i - 1 AS i, p.id
    FROM unnest(%(cid)s::text[], %(name)s::text[], %(born)s::date[])
         WITH ORDINALITY AS q(cid, name, born, i)
    JOIN {Person._meta.db_table} p
      ON p.citizen_id = q.cid AND p.name = q.name
     AND (q.born IS NULL OR p.birth_date = q.born)
     AND p.status = %(active)s
    WHERE cardinality(%(prefixes)s::text[]) = 0 OR EXISTS (
        SELECT 1 FROM unnest(%(prefixes)s::text[]) x
        WHERE starts_with(p.hukou_region_id, x) OR starts_with(p.residence_region_id, x))
"""  # noqa: S608 (only the table name is interpolated)
# The match and its access-log row (the persons matched, none for no match) in one statement.
_LOG_MATCHED = ACCESS_LOG_INSERT.format(ids="ARRAY(SELECT DISTINCT m.id FROM m ORDER BY m.id)")
_MATCH_LOGGED_SQL = (
    f"WITH m AS MATERIALIZED ({_MATCH_SQL}), a AS ({_LOG_MATCHED})"  # noqa: S608
    " SELECT m.i, m.id FROM m"
)


def verifications_match(
    *,
    client: ApiClient,
    items: list[VerificationItem],
    user=None,
    channel: str = "",
    purpose: str = "",
    fields=(),
    address: str = "",
) -> tuple[list[bool], list[int]]:
    """Match or no-match per item, and the ids of the persons matched, in one query; with
    ``channel`` given, the read is logged (``access_log_record``'s arguments) in the same
    statement on the primary (after it, on the primary, when the request reads a replica).

    A match needs a living person with this current number and exactly this name (and birth
    date, when given) inside the client's regions. An invalid number is a no-match.
    """
    numbers: list[str | None] = []
    for item in items:
        try:
            numbers.append(citizen_id_number(item.citizen_id))
        except InvalidCitizenId:
            numbers.append(None)
    born = [item.birth_date for item in items]
    # Statement parameters; the access-log ones (access_log_params) are added when logged here.
    params: dict[str, list[Any] | str | None] = {
        "cid": numbers,
        "name": [item.name.strip() for item in items],
        # No birth date given at all (the usual batch): NULL, which unnest pads as NULLs.
        "born": born if any(b is not None for b in born) else None,
        "active": PersonStatus.ACTIVE,
        "prefixes": client.region_prefixes,
    }
    logged_here = bool(channel) and read_alias() == DEFAULT_DB_ALIAS
    if logged_here:
        params.update(
            access_log_params(
                user=user, channel=channel, purpose=purpose, fields=fields, client=address
            )
        )
    with (connection if logged_here else read_connection()).cursor() as cursor:
        cursor.execute(_MATCH_LOGGED_SQL if logged_here else _MATCH_SQL, params)
        rows = cursor.fetchall()
    matched = [False] * len(items)
    for index, _person_id in rows:
        matched[index] = True
    person_ids = sorted({person_id for _, person_id in rows})
    if channel and not logged_here:
        access_log_record(
            user=user,
            channel=channel,
            purpose=purpose,
            person_ids=person_ids,
            fields=fields,
            client=address,
        )
    return matched, person_ids


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
