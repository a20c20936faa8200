"""Runs popbase through PgBouncer (settings from the environment: DATABASE_URL at PgBouncer,
DATABASE_POOLED=1, DATABASE_DIRECT_URL at PostgreSQL) and prints what happened as JSON.
Started by tests/integration/test_pgbouncer.py."""

from __future__ import annotations

import datetime as dt
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from population.errors import Conflict  # noqa: E402
from population.identity import build_citizen_id  # noqa: E402
from population.locks import SessionLock  # noqa: E402
from population.models import Person  # noqa: E402
from registry.quality.services import RUN_LOCK, quality_detect  # noqa: E402
from residence_permit.jobs import permits_daily_job  # noqa: E402
from tests.integration.driver_records import person_and_key  # noqa: E402


def main() -> dict:
    out: dict = {"port": int(connection.settings_dict["PORT"])}
    out["server_side_cursors_disabled"] = connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"]
    person, key = person_and_key(
        citizen_id=build_citizen_id("441802", dt.date(1985, 5, 5), 77),
        name="连接池测试",
        client_prefix="pool",
    )
    # Many requests, so each runs its transactions on whichever server session is free.
    for _ in range(5):
        response = Client().get(
            f"/api/v1/persons/{person.citizen_id}",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
            HTTP_X_PURPOSE="social_insurance",
        )
    out["lookup_status"] = response.status_code
    out["lookup_name"] = response.json().get("name")
    # A chunked iterator: a server-side cursor would not survive the pooled transaction.
    out["iterated"] = sum(1 for _ in Person.objects.all().iterator(chunk_size=1))

    out["permits_daily"] = permits_daily_job()
    held = SessionLock("popbase.job.permits_daily")
    assert held.acquire()
    try:
        out["permits_daily_while_held"] = permits_daily_job()
    finally:
        held.release()

    held = SessionLock(RUN_LOCK)
    assert held.acquire()
    try:
        quality_detect()
    except Conflict as exc:
        out["quality_while_held"] = exc.code
    finally:
        held.release()
    out["quality_status"] = quality_detect().status

    with psycopg.connect(settings.DATABASE_DIRECT_URL, autocommit=True) as direct:
        out["advisory_locks_left"] = direct.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
    return out


if __name__ == "__main__":
    print(json.dumps(main(), default=str))
