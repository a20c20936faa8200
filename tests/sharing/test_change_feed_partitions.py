"""The change feed is range-partitioned by month on ``recorded_at`` (migration population 0032):
the time rises with the id even when the clock goes back, every cursor reads exactly the changes
after it across a month's end, a page read from a recent cursor touches only the newest month's
partition (EXPLAIN), and every partition is guarded and granted like the table."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from population import partitions, services
from population.models import ChangeEvent, ChangeFeedMonth
from population.services import change_record
from tests.dburl import both_layers_refuse
from tests.sharing.conftest import Caller

pytestmark = pytest.mark.django_db

TABLE = "population_changeevent"
UTC = dt.UTC


def _names() -> list[str]:
    with connection.cursor() as cursor:
        return [p.name for p in partitions.partitions(cursor, TABLE)]


def _sql(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _record_at(monkeypatch, person, when: dt.datetime, kind: str = "birth") -> ChangeEvent:
    """A change written by ``change_record`` while the database's clock reads ``when``."""
    monkeypatch.setattr(services, "CHANGE_FEED_CLOCK", f"'{when.isoformat()}'")
    with transaction.atomic():
        return change_record(kind=kind, person=person, source="t")


def _page(caller, cursor, limit):
    response = caller.get("/api/v1/changes", {"cursor": cursor, "limit": limit})
    assert response.status_code == 200, response.content
    return response.json()


def _drain(caller, cursor, limit=2) -> list[int]:
    seen = []
    while True:
        page = _page(caller, cursor, limit)
        seen += [c["id"] for c in page["results"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen


@pytest.fixture
def months_2036(db):
    """Partitions for January to April 2036 (DDL: the owner's, as the beat job's)."""
    partitions.partitions_ensure(today=dt.date(2036, 1, 1), ahead=3, tables=[TABLE])


def test_the_feed_is_partitioned_by_month_on_its_time_and_months_are_created_ahead():
    with connection.cursor() as cursor:
        assert partitions.partitioned_tables(cursor)[TABLE] == "recorded_at"
    this_month = dt.datetime.now(UTC).date().replace(day=1)
    assert partitions.partition_name(TABLE, this_month) in _names()
    assert f"{TABLE}_pdefault" in _names()
    # The primary key carries the partition key in the database; Django's state keeps ``id``.
    assert _sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        f" WHERE conrelid = '{TABLE}'::regclass AND contype = 'p'"
    ) == [("PRIMARY KEY (id, recorded_at)",)]
    assert ChangeEvent._meta.pk.name == "id"


@pytest.mark.db_role("owner")
def test_partitions_ensure_creates_the_feed_s_months_ahead_guarded_once():
    created = partitions.partitions_ensure(today=dt.date(2037, 5, 1), ahead=2)
    assert created[TABLE] == [f"{TABLE}_p203705", f"{TABLE}_p203706", f"{TABLE}_p203707"]
    assert TABLE not in partitions.partitions_ensure(today=dt.date(2037, 5, 1), ahead=2)
    for sql in (f"TRUNCATE {TABLE}_p203706", f"TRUNCATE {TABLE}_pdefault"):
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql(sql)


@both_layers_refuse("Cannot update or delete")
def test_a_feed_partition_and_the_month_index_refuse_update_and_delete(
    make_person, refusal, monkeypatch
):
    """The runtime role by its grants (also on a partition by its own name), the owner by the
    triggers cloned onto every partition."""
    person = make_person()
    event = _record_at(monkeypatch, person, dt.datetime.now(UTC))
    month = event.recorded_at.astimezone(UTC).date().replace(day=1)
    partition = partitions.partition_name(TABLE, month)
    assert _sql(f"SELECT id FROM {partition}") == [(event.pk,)]  # the runtime role reads it
    for sql in (
        f"UPDATE {partition} SET kind = 'death'",
        f"DELETE FROM {partition}",
        "UPDATE population_changefeedmonth SET after_id = 0",
        "DELETE FROM population_changefeedmonth",
    ):
        with pytest.raises(DatabaseError, match=refusal), transaction.atomic():
            _sql(sql)
    assert ChangeEvent.objects.get().kind == "birth"
    assert ChangeFeedMonth.objects.get().after_id == event.pk - 1


def test_the_time_never_goes_back_even_when_the_clock_does(make_person, monkeypatch):
    person = make_person()
    ahead = _record_at(monkeypatch, person, dt.datetime(2036, 2, 1, 0, 0, 1, tzinfo=UTC))
    back = _record_at(monkeypatch, person, dt.datetime(2036, 1, 31, 23, 59, 59, tzinfo=UTC))
    monkeypatch.setattr(services, "CHANGE_FEED_CLOCK", "clock_timestamp()")  # today's clock
    with transaction.atomic():
        real = change_record(kind="death", person=person, source="t")
    assert ahead.pk < back.pk < real.pk
    assert back.recorded_at == ahead.recorded_at == real.recorded_at
    assert ChangeEvent.objects.get(pk=back.pk).recorded_at == ahead.recorded_at
    # One month, opened by its first change.
    assert list(ChangeFeedMonth.objects.values_list("month", "after_id")) == [
        (dt.date(2036, 2, 1), ahead.pk - 1)
    ]


def test_the_time_is_the_database_s_clock_read_under_the_lock(make_person):
    person = make_person()
    with transaction.atomic():
        before = _sql("SELECT clock_timestamp()")[0][0]
        first = change_record(kind="birth", person=person, source="t")
        second = change_record(kind="birth", person=person, source="t")
        after = _sql("SELECT clock_timestamp()")[0][0]
    # Not the transaction's start (now()), which every row of one transaction would share.
    assert before < first.recorded_at < second.recorded_at < after
    stored = ChangeEvent.objects.order_by("id").values_list("recorded_at", flat=True)
    assert list(stored) == [first.recorded_at, second.recorded_at]


@pytest.mark.db_role("owner")
def test_every_cursor_reads_exactly_the_changes_after_it_across_months(
    months_2036, make_client, make_person, monkeypatch
):
    person = make_person()
    times = [
        dt.datetime(2036, 1, 30, 8, tzinfo=UTC),
        dt.datetime(2036, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(2036, 2, 1, 0, 0, tzinfo=UTC),  # the first instant of February
        dt.datetime(2036, 1, 31, 12, tzinfo=UTC),  # the clock went back: still February
        dt.datetime(2036, 2, 29, 23, 59, 59, tzinfo=UTC),
        dt.datetime(2036, 3, 1, 0, 0, 1, tzinfo=UTC),
        dt.datetime(2036, 3, 15, tzinfo=UTC),
    ]
    kinds = ["birth", "death", "birth", "birth", "death", "birth", "birth"]
    ids = [_record_at(monkeypatch, person, t, k).pk for t, k in zip(times, kinds, strict=True)]
    rows = list(ChangeEvent.objects.order_by("id").values_list("id", "recorded_at"))
    assert [r[0] for r in rows] == ids
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert [r[1].month for r in rows] == [1, 1, 2, 2, 2, 3, 3]
    # Each month's rows are in that month's partition.
    for month, count in ((1, 2), (2, 3), (3, 2)):
        assert _sql(f"SELECT count(*) FROM {TABLE}_p20360{month}") == [(count,)]
    assert _sql(f"SELECT count(*) FROM {TABLE}_pdefault") == [(0,)]
    assert list(ChangeFeedMonth.objects.order_by("month").values_list("after_id", flat=True)) == [
        ids[0] - 1,
        ids[1],
        ids[4],
    ]
    _client, key = make_client(change_kinds=["birth"])
    caller = Caller(key)
    births = [i for i, k in zip(ids, kinds, strict=True) if k == "birth"]
    # Every cursor a consumer may hold, also ids of kinds it does not see, 0 and past the end.
    for cursor in [0, *range(ids[0] - 1, ids[-1] + 2)]:
        for limit in (1, 2, 1000):
            assert _drain(caller, cursor, limit) == [i for i in births if i > cursor], (
                cursor,
                limit,
            )


def _plan(sql: str) -> str:
    return "\n".join(r[0] for r in _sql(f"EXPLAIN {sql}"))


@pytest.mark.db_role("owner")
def test_a_page_from_a_recent_cursor_reads_only_the_newest_month_s_partition(
    months_2036, make_client, make_person, monkeypatch
):
    person = make_person()
    ids = {}
    for month in (1, 2, 3):
        for day in (3, 20):
            event = _record_at(monkeypatch, person, dt.datetime(2036, month, day, tzinfo=UTC))
            ids[(month, day)] = event.pk
    _client, key = make_client(change_kinds=["birth"])
    _sql(f"ANALYZE {TABLE}")

    def page_sql(cursor: int) -> tuple[str, list[int]]:
        with CaptureQueriesContext(connection) as queries:
            page = _page(Caller(key), cursor, 100)
        feed = [q["sql"] for q in queries if f"FROM {TABLE} c" in q["sql"]]
        assert len(feed) == 1
        return feed[0], [c["id"] for c in page["results"]]

    recent, got = page_sql(ids[(3, 3)])
    assert got == [ids[(3, 20)]]
    plan = _plan(recent)
    print(plan)
    assert f"{TABLE}_p203603" in plan
    assert f"{TABLE}_p" not in plan.replace(f"{TABLE}_p203603", "")  # no other month, no default

    # February's last change is as recent: nothing after it lies before March.
    assert _plan(page_sql(ids[(2, 20)])[0]).count(f"{TABLE}_p2036") == 1
    # A cursor inside February, or January's last change, reads February and March only.
    for cursor in (ids[(2, 3)], ids[(1, 20)]):
        sql, got = page_sql(cursor)
        plan = _plan(sql)
        assert f"{TABLE}_p203602" in plan and f"{TABLE}_p203603" in plan
        assert f"{TABLE}_p203601" not in plan and f"{TABLE}_pdefault" not in plan
        assert got == [i for i in ids.values() if i > cursor]
    # From the start: every month, never the default partition (no month is missing).
    sql, got = page_sql(0)
    assert f"{TABLE}_p203601" in _plan(sql) and f"{TABLE}_pdefault" not in _plan(sql)
    assert got == list(ids.values())
