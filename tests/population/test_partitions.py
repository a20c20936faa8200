"""Monthly range partitions (population/partitions.py): the access log and its per-person index
are partitioned by month, months are created ahead idempotently (also by two runs at once), rows
a missing month's default partition caught move into it, every partition is protected like its
table, and a query for one recent range reads that month's partition only."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from population import audit, partitions
from population.models import AccessLog, AccessLogPending, AccessLogPerson

# Partitions are DDL (create, detach, drop): the owner does them, as the beat jobs do through
# DATABASE_OWNER_URL; the runtime role is refused (tests/test_runtime_role.py, db_roles).
pytestmark = [pytest.mark.django_db, pytest.mark.db_role("owner")]

LOG = "population_accesslog"
INDEX = "population_accesslogperson"
UTC = dt.UTC


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


def _names(table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [p.name for p in partitions.partitions(cursor, table)]


def _row(at: dt.datetime, person: int = 1) -> AccessLog:
    return AccessLog.objects.create(
        at=at, username="u", channel="api.persons", purpose="p", person_ids=[person], fields=["n"]
    )


def _sql(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def test_the_access_log_and_its_person_index_are_partitioned_by_month_with_the_time_in_the_key():
    with connection.cursor() as cursor:
        found = partitions.partitioned_tables(cursor)
    assert (found[LOG], found[INDEX]) == ("at", "at")
    keys = dict(
        _sql(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'p' AND conrelid::regclass::text = ANY(%s)",
            [[LOG, INDEX]],
        )
    )
    assert keys == {
        LOG: "PRIMARY KEY (id, at)",
        INDEX: "PRIMARY KEY (person_id, at, log_id)",
    }
    # Django's view is unchanged: one id per row, still from one sequence.
    assert AccessLog._meta.pk.name == "id"
    a, b = _row(dt.datetime.now(UTC)), _row(dt.datetime.now(UTC))
    assert b.id > a.id
    this_month = partitions.partition_name(LOG, dt.datetime.now(UTC).date().replace(day=1))
    assert this_month in _names(LOG) and f"{LOG}_pdefault" in _names(LOG)


def test_months_ahead_are_created_once_and_a_second_run_changes_nothing():
    out = io.StringIO()
    created = partitions.partitions_ensure(today=dt.date(2031, 11, 20), ahead=2)
    assert created[LOG] == [f"{LOG}_p203111", f"{LOG}_p203112", f"{LOG}_p203201"]
    assert created[INDEX] == [f"{INDEX}_p203111", f"{INDEX}_p203112", f"{INDEX}_p203201"]
    assert partitions.partitions_ensure(today=dt.date(2031, 11, 20), ahead=2) == {}
    call_command("partitions_ensure", "--ahead", "0", stdout=out)
    assert "created 0 partitions" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.execute(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = %s",
            [f"{LOG}_p203112"],
        )
        bounds = cursor.fetchone()[0]
    assert bounds == ("FOR VALUES FROM ('2031-12-01 00:00:00+00') TO ('2032-01-01 00:00:00+00')")


@pytest.mark.parametrize("ahead", ["-1", "x", "121"])
def test_the_command_refuses_a_bad_number_of_months(ahead):
    with pytest.raises(Exception, match="months must be an integer"):
        call_command("partitions_ensure", "--ahead", ahead)


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_create_each_month_exactly_once():
    months = [f"{t}_p2033{m:02d}" for t in (LOG, INDEX) for m in (1, 2, 3, 4)]
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            results.append(
                partitions.partitions_ensure(
                    today=dt.date(2033, 1, 5), ahead=3, tables=[LOG, INDEX]
                )
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        made = sorted(name for r in results for names in r.values() for name in names)
        assert made == sorted(months)  # one run made them all, the other found them made
        assert all(m in _names(LOG) + _names(INDEX) for m in months)
    finally:
        with connection.cursor() as cursor:
            for name in months:
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def test_rows_the_default_partition_caught_move_into_their_new_month_and_still_seal():
    at = dt.datetime(2034, 5, 10, 8, tzinfo=UTC)
    row = _row(at)
    past = _row(dt.datetime(2019, 7, 31, 23, 59, tzinfo=UTC))  # written with an old time
    assert _sql(f"SELECT count(*) FROM {LOG}_pdefault")[0][0] == 2
    assert AccessLogPending.objects.filter(log_id=row.id).exists()

    created = partitions.partitions_ensure(today=dt.date(2034, 5, 1), ahead=0)

    assert created[LOG] == [f"{LOG}_p201907", f"{LOG}_p203405"]
    assert _sql(f"SELECT count(*) FROM {LOG}_pdefault")[0][0] == 0
    assert _sql(f"SELECT id FROM {LOG}_p203405") == [(row.id,)]
    assert _sql(f"SELECT id FROM {LOG}_p201907") == [(past.id,)]
    # Still append-only after the move, and the default partition is attached again.
    with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
        _sql(f"DELETE FROM {LOG}_p203405")
    assert f"{LOG}_pdefault" in _names(LOG)
    assert audit.access_log_seal().rows == 2
    assert sorted(AccessLogPerson.objects.values_list("log_id", flat=True)) == [row.id, past.id]
    assert audit.access_log_verify().intact


def test_a_partition_refuses_truncate_update_and_delete_by_its_own_name():
    partitions.partitions_ensure(today=dt.date(2035, 2, 1), ahead=0)
    _row(dt.datetime(2035, 2, 3, tzinfo=UTC))
    for table in (f"{LOG}_p203502", f"{LOG}_pdefault", f"{INDEX}_p203502"):
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql(f"TRUNCATE {table}")
    for sql in (f"UPDATE {LOG}_p203502 SET purpose = 'x'", f"DELETE FROM {LOG}_p203502"):
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql(sql)
    assert _sql(f"SELECT purpose FROM {LOG}_p203502") == [("p",)]


def _plan(sql: str, params=None) -> str:
    return "\n".join(r[0] for r in _sql(f"EXPLAIN {sql}", params))


def test_a_query_for_the_newest_days_reads_only_the_newest_month_partition():
    partitions.partitions_ensure(today=dt.date(2036, 1, 1), ahead=2)
    for month in (1, 2, 3):
        for day in (2, 9):
            _row(dt.datetime(2036, month, day, tzinfo=UTC), person=month)
    audit.access_log_seal()
    recent = [dt.datetime(2036, 3, 5, tzinfo=UTC), dt.datetime(2036, 3, 12, tzinfo=UTC)]

    log_plan = _plan(f"SELECT id, username FROM {LOG} WHERE at >= %s AND at < %s", recent)
    index_plan = _plan(
        f"SELECT log_id FROM {INDEX} WHERE person_id = 3 AND at >= %s AND at < %s", recent
    )

    assert f"{LOG}_p203603" in log_plan
    assert f"{LOG}_p2036" not in log_plan.replace(f"{LOG}_p203603", "")
    assert f"{LOG}_pdefault" not in log_plan
    assert f"{INDEX}_p203603" in index_plan
    assert f"{INDEX}_p2036" not in index_plan.replace(f"{INDEX}_p203603", "")
    rows = AccessLog.objects.filter(at__gte=recent[0], at__lt=recent[1])
    assert [r.at.day for r in rows] == [9]


def test_who_read_me_reads_the_right_month_for_each_row():
    partitions.partitions_ensure(today=dt.date(2037, 1, 1), ahead=1)
    old = _row(dt.datetime(2037, 1, 20, tzinfo=UTC), person=77)
    new = _row(dt.datetime(2037, 2, 3, tzinfo=UTC), person=77)
    _row(dt.datetime(2037, 2, 4, tzinfo=UTC), person=78)
    audit.access_log_seal()
    reads = audit.person_reads(77)
    assert [r.log_id for r in reads] == [new.id, old.id]
    assert [r.log_id for r in audit.person_reads(77, after=(new.at, new.id))] == [old.id]


HISTORY = [
    "population_personevent",
    "population_factevent",
    "registry_householdevent",
    "registry_membershipevent",
    "residence_permit_personfactevent",
    "settlement_applicationevent",
]


def test_the_history_tables_are_partitioned_by_month_and_guarded():
    with connection.cursor() as cursor:
        found = partitions.partitioned_tables(cursor)
    assert {t: found.get(t) for t in HISTORY} == dict.fromkeys(HISTORY, "pgh_created_at")
    for table in HISTORY:
        assert f"{table}_pdefault" in _names(table)
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql(f"TRUNCATE {table}_pdefault")


def test_a_person_s_history_lands_in_this_month_and_the_newest_history_prunes(make_person, village):
    person = make_person(hukou_region=village)
    Person = type(person)
    Person.objects.filter(pk=person.pk).update(name="李四")
    month = dt.datetime.now(UTC).date().replace(day=1)
    table = "population_personevent"
    this_month = partitions.partition_name(table, month)
    assert _sql(f"SELECT pgh_label FROM {this_month} WHERE pgh_obj_id = %s ORDER BY pgh_id",
                [person.pk]) == [("insert",), ("update",)]  # fmt: skip
    since = dt.datetime.combine(month, dt.time.min, tzinfo=UTC)
    plan = _plan(
        f"SELECT pgh_obj_id, name FROM {table} WHERE pgh_created_at >= %s AND pgh_created_at < %s",
        [since, since + dt.timedelta(days=1)],
    )
    assert this_month in plan
    assert f"{table}_p" not in plan.replace(this_month, "")
    # The statistics' "as of a cutoff" query skips every month after the cutoff.
    from population.statistics.compute import HISTORY_SOURCE

    plan = _plan(HISTORY_SOURCE, {"cutoff": since})
    assert (
        this_month not in plan and partitions.partition_name(table, month_add(month, 1)) not in plan
    )


def month_add(month, n):
    return partitions.month_add(month, n)
