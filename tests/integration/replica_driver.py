"""Runs popbase against a scratch primary and its standby (settings from the environment: the
primary as DATABASE_URL, the standby as DATABASE_REPLICA_URLS) and prints, as JSON, which
database served what in each scenario. Started once by tests/integration/test_replicas.py:

    python -m tests.integration.replica_driver
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import DEFAULT_DB_ALIAS, connection, connections  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from population.audit import access_log_record  # noqa: E402
from population.db_router import ReplicaReadsMiddleware, replica_lag_forget  # noqa: E402
from population.identity import build_citizen_id  # noqa: E402
from population.models import AccessLog, Person, Region  # noqa: E402
from tests.integration.driver_records import person_and_key  # noqa: E402

REPLICA = "replica1"
ALIASES = (DEFAULT_DB_ALIAS, REPLICA)


class Recorder:
    """Every statement each connection ran, with the alias it ran on."""

    def __init__(self):
        self.statements: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def watching(self):
        with contextlib.ExitStack() as stack:
            for alias in ALIASES:
                stack.enter_context(connections[alias].execute_wrapper(self._wrap(alias)))
            yield self

    def _wrap(self, alias):
        def wrapper(execute, sql, params, many, context):
            self.statements.append((alias, sql))
            return execute(sql, params, many, context)

        return wrapper

    def aliases(self, *, table: str, reads: bool) -> list[str]:
        out = []
        for alias, sql in self.statements:
            # A WITH statement reads too (the person lookup on the primary reads the person
            # and writes its access-log row in one statement).
            is_read = sql.lstrip().upper().startswith(("SELECT", "WITH"))
            if table in sql and is_read == reads and alias not in out:
                out.append(alias)
        return out

    def writes(self) -> list[str]:
        return sorted(
            {a for a, sql in self.statements if not sql.lstrip().upper().startswith("SELECT")}
        )


def in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def standby_catch_up(timeout: float = 30.0) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    while True:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            if cursor.fetchone()[0]:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("standby did not catch up")
        time.sleep(0.05)


# Each scenario's person is new: numbered in turn from a random start, so two draws in one run
# never pick the same citizen ID (a random pick each time did, now and then).
_PERSON_NUMBERS = itertools.count(uuid.uuid4().int % 300 + 1)


def new_person_and_key() -> tuple[Person, str]:
    n = next(_PERSON_NUMBERS)
    return person_and_key(
        citizen_id=build_citizen_id("441802", dt.date(1980, 1, 1) + dt.timedelta(days=n), n * 2),
        name="副本测试",
        client_prefix="replica",
    )


def lookup(wait: bool) -> dict:
    person, key = new_person_and_key()
    if wait:
        standby_catch_up()
    recorder = Recorder()
    with recorder.watching():
        response = Client().get(
            f"/api/v1/persons/{person.citizen_id}",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
            HTTP_X_PURPOSE="social_insurance",
        )
    person_reads = recorder.aliases(table=Person._meta.db_table, reads=True)
    return {
        "status": response.status_code,
        "name": response.json().get("name"),
        "person_read_on": person_reads,
        "person_read_in_recovery": [in_recovery(a) for a in person_reads],
        "writes_on": recorder.writes(),
        "access_log_rows_on_primary": AccessLog.objects.using(DEFAULT_DB_ALIAS)
        .filter(person_ids__contains=[person.pk])
        .count(),
    }


def pin() -> dict:
    """Reads before and after a write within one request, through the middleware."""
    person, _key = new_person_and_key()
    standby_catch_up()
    out: dict = {}

    def read_write_read(request):
        recorder = Recorder()
        with recorder.watching():
            Person.objects.filter(pk=person.pk).exists()
            out["first_read_on"] = recorder.aliases(table=Person._meta.db_table, reads=True)
        Region.objects.filter(code="000000000000").update(name="x")  # an ORM write
        recorder = Recorder()
        with recorder.watching():
            Person.objects.filter(pk=person.pk).exists()
            out["read_after_orm_write_on"] = recorder.aliases(
                table=Person._meta.db_table, reads=True
            )

    def raw_write_then_read(request):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE population_region SET name = name WHERE code = '-'")
        recorder = Recorder()
        with recorder.watching():
            Person.objects.filter(pk=person.pk).exists()
        out["read_after_raw_write_on"] = recorder.aliases(table=Person._meta.db_table, reads=True)

    def audited_read(request):
        access_log_record(
            user=None, channel="test", purpose="测试", person_ids=[person.pk], fields=["name"]
        )
        recorder = Recorder()
        with recorder.watching():
            Person.objects.filter(pk=person.pk).exists()
        out["read_after_access_log_on"] = recorder.aliases(table=Person._meta.db_table, reads=True)

    def plain_read(request):
        recorder = Recorder()
        with recorder.watching():
            Person.objects.filter(pk=person.pk).exists()
        out["admin_read_on"] = recorder.aliases(table=Person._meta.db_table, reads=True)

    factory = RequestFactory()
    ReplicaReadsMiddleware(read_write_read)(factory.get("/api/v1/anything"))
    ReplicaReadsMiddleware(raw_write_then_read)(factory.get("/api/v1/anything"))
    ReplicaReadsMiddleware(audited_read)(factory.get("/api/v1/anything"))
    ReplicaReadsMiddleware(plain_read)(factory.get("/admin/population/person/"))
    recorder = Recorder()
    with recorder.watching():
        Person.objects.filter(pk=person.pk).exists()
    out["outside_request_on"] = recorder.aliases(table=Person._meta.db_table, reads=True)
    return out


def paused(max_lag: float) -> dict:
    """Replay paused on the standby until it is past the lag limit: the primary answers; once
    resumed and caught up, the standby again."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE replay_paused (id int)")
        deadline = time.monotonic() + 30
        while True:
            with connections[REPLICA].cursor() as cursor:
                cursor.execute(
                    "SELECT coalesce(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                    ", 0)::float8"
                )
                if cursor.fetchone()[0] > max_lag + 0.5:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the paused standby never fell behind")
            time.sleep(0.1)
        replica_lag_forget()
        while_paused = lookup(wait=False)
    finally:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE replay_paused")
    replica_lag_forget()
    return {"while_paused": while_paused, "resumed": lookup(wait=True)}


if __name__ == "__main__":
    from django.conf import settings

    result = {"lookup": lookup(wait=True), "pin": pin()}
    result["paused"] = paused(settings.REPLICA_MAX_LAG_SECONDS)
    print(json.dumps(result))
