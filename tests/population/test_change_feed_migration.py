"""Migration population 0032 turns the existing change feed into monthly partitions keeping every
row, and fills the month index so that a cursor handed out before it still reads exactly the
changes after it, even though the rows written before it need not have times rising with their
ids; changes written after it follow on; and back again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from population import partitions
from population.services import change_record
from population.sharing.models import ApiClient
from population.sharing.selectors import changes_page

BEFORE = [("population", "0031_analyze_facts_function")]
TABLE = "population_changeevent"
UTC = dt.UTC
COLUMNS = "id, kind, person_id, effective_date, recorded_at, regions, source"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _partitioned() -> bool:
    with connection.cursor() as cursor:
        return partitions.is_partitioned(cursor, TABLE)


def _read_all(after: int, limit: int) -> list[int]:
    """Every change after ``after``, page by page, as the API reads them."""
    client = ApiClient(change_kinds=["birth", "death"], region_prefixes=[])
    seen = []
    while rows := changes_page(client=client, after=after, limit=limit):
        seen += [r.id for r in rows]
        after = rows[-1].id
    return seen


@pytest.mark.db_role("owner")  # migrating backward and forward is DDL
@pytest.mark.django_db(transaction=True)
def test_the_feed_is_partitioned_and_old_cursors_read_exactly_the_changes_after_them(
    make_person,
):
    person = make_person()
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        assert not _partitioned()
        # Written before: times from each writer's clock, not rising with the id across months.
        times = [
            dt.datetime(2026, 8, 10, tzinfo=UTC),
            dt.datetime(2026, 9, 1, 0, 0, 1, tzinfo=UTC),
            dt.datetime(2026, 8, 31, 23, 59, 59, tzinfo=UTC),  # behind the one before
            dt.datetime(2026, 10, 2, tzinfo=UTC),
            dt.datetime(2026, 9, 30, 23, 0, tzinfo=UTC),
            dt.datetime(2026, 10, 1, tzinfo=UTC),
        ]
        for i, at in enumerate(times):
            _sql(
                f"INSERT INTO {TABLE} (kind, person_id, recorded_at, regions, source)"
                " VALUES (%s, %s, %s, '{}', %s)",
                ["birth" if i % 2 else "death", person.pk, at, f"old{i}"],
            )
        rows = _sql(f"SELECT {COLUMNS} FROM {TABLE} ORDER BY id")
        ids = [r[0] for r in rows]

        _migrate(latest)

        assert _partitioned()
        assert _sql(f"SELECT {COLUMNS} FROM {TABLE} ORDER BY id") == rows
        for month, count in (("202608", 2), ("202609", 2), ("202610", 2)):
            assert _sql(f"SELECT count(*) FROM {TABLE}_p{month}") == [(count,)]
        # Every change above after_id is recorded in that month or later (0: none before).
        assert _sql("SELECT month, after_id FROM population_changefeedmonth ORDER BY 1") == [
            (dt.date(2026, 8, 1), 0),
            (dt.date(2026, 9, 1), ids[2]),
            (dt.date(2026, 10, 1), ids[4]),
        ]
        # Every cursor handed out before the migration: exactly the changes after it.
        for after in [0, *ids]:
            for limit in (1, 2, 100):
                assert _read_all(after, limit) == [i for i in ids if i > after], (after, limit)

        # Changes written now follow on, from every old cursor too.
        with transaction.atomic():
            new = [change_record(kind="birth", person=person, source=f"new{i}") for i in (1, 2)]
        assert new[0].pk > ids[-1]
        assert new[0].recorded_at >= max(times) and new[1].recorded_at >= new[0].recorded_at
        every = [*ids, *(e.pk for e in new)]
        for after in [0, *every]:
            assert _read_all(after, 2) == [i for i in every if i > after], after
        # Still append-only and TRUNCATE-guarded, on the table and on a partition by its name.
        for sql in (
            f"UPDATE {TABLE} SET kind = 'x'",
            f"DELETE FROM {TABLE}_p202609",
            f"TRUNCATE {TABLE}",
            f"TRUNCATE {TABLE}_p202608",
        ):
            with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
                _sql(sql)

        _migrate(BEFORE)  # and back: a plain table with every row
        assert not _partitioned()
        assert _sql(f"SELECT id FROM {TABLE} ORDER BY id") == [(i,) for i in every]
        assert _sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            f" WHERE conrelid = '{TABLE}'::regclass AND contype = 'p'"
        ) == [("PRIMARY KEY (id)",)]
        assert _sql("SELECT to_regclass('population_changefeedmonth')") == [(None,)]
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql(f"DELETE FROM {TABLE}")
    finally:
        _migrate(latest)
