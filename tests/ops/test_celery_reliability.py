"""Celery reliability (ops/celery_policy.py, ops/signals.py): limits per task, retries on
transient errors only, dead tasks kept for the operator; on a real worker through Redis."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction

from config.celery import app
from ops.celery_policy import (
    RETRIED_ON_TRANSIENT,
    TASK_LIMITS,
    default_limits,
    task_annotations,
    transient_retry,
)
from ops.models import TaskFailure
from population.identity import build_citizen_id

CITIZEN_ID = build_citizen_id("441802", dt.date(1990, 1, 1), 11)


def test_every_named_task_exists_with_limits_below_the_visibility_timeout():
    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name, (soft, hard) in TASK_LIMITS.items():
        task = app.tasks[name]  # a renamed task would leave its limits behind
        assert (task.soft_time_limit, task.time_limit) == (soft, hard)
        assert soft < hard < visibility
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < visibility


def test_a_visibility_timeout_too_short_for_the_limits_is_refused_in_production_only():
    with pytest.raises(ValueError, match=r"population\.audit_seal"):
        task_annotations(30, strict=True)
    with pytest.raises(ValueError, match="CELERY_VISIBILITY_TIMEOUT"):
        default_limits(30, strict=True)
    # A test worker with a seconds-long timeout: the tasks that do not fit run without limits,
    # and every retry rule is kept.
    lenient = task_annotations(3, strict=False)
    assert not any("time_limit" in options for options in lenient.values())
    assert set(RETRIED_ON_TRANSIENT) <= set(lenient)
    assert default_limits(3, strict=False) == (None, None)
    # Limits that fit are kept either way.
    fitting = task_annotations(6 * 3600, strict=False)
    assert fitting["population.audit_seal"]["time_limit"] == TASK_LIMITS["population.audit_seal"][1]
    assert default_limits(6 * 3600, strict=False) == default_limits(6 * 3600)


def test_only_idempotent_tasks_retry_and_only_on_transient_errors():
    app.loader.import_default_modules()
    for name in RETRIED_ON_TRANSIENT:
        retried = app.tasks[name].autoretry_for
        assert OperationalError in retried
        assert not any(issubclass(IntegrityError, e) or e is Exception for e in retried)
    # The feed batch task counts attempts on the batch itself; the sealer reruns in seconds.
    assert not getattr(app.tasks["population.sync.batch_process"], "autoretry_for", ())
    assert not getattr(app.tasks["population.audit_seal"], "autoretry_for", ())


@app.task(name="tests.ops.flaky", bind=True, **transient_retry(backoff=1))
def flaky_task(self):
    """A real cancelled statement (OperationalError) on the first run only."""
    if self.request.retries == 0:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '10ms'")
            cursor.execute("SELECT pg_sleep(1)")
    return self.request.retries


@app.task(name="tests.ops.always_cancelled", **transient_retry(backoff=1, max_retries=1))
def always_cancelled_task():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '10ms'")
        cursor.execute("SELECT pg_sleep(1)")


@app.task(name="tests.ops.bad_input", **transient_retry(backoff=1))
def bad_input_task(citizen_id):
    raise ValueError(f"no such person {citizen_id}")


@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_and_dead_tasks_are_kept_masked():
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue]):
        assert flaky_task.apply_async(queue=queue).get(timeout=60) == 1
        with pytest.raises(OperationalError):
            always_cancelled_task.apply_async(queue=queue).get(timeout=60)
        bad = bad_input_task.apply_async(args=[CITIZEN_ID], queue=queue)
        with pytest.raises(ValueError):
            bad.get(timeout=60)
    assert not TaskFailure.objects.filter(task_name="tests.ops.flaky").exists()
    cancelled = TaskFailure.objects.get(task_name="tests.ops.always_cancelled")
    assert cancelled.exception == "OperationalError" and cancelled.retries == 1
    assert "statement timeout" in cancelled.message
    dead = TaskFailure.objects.get(task_name="tests.ops.bad_input")
    assert dead.task_id == bad.id
    assert dead.retries == 0  # not a transient error: no retry
    assert dead.exception == "ValueError"
    masked = f"{CITIZEN_ID[:6]}********{CITIZEN_ID[-4:]}"
    for text in (dead.arguments, dead.message, dead.traceback):
        assert CITIZEN_ID not in text
    assert masked in dead.message and masked in dead.arguments


@pytest.mark.django_db
def test_the_admin_lists_dead_tasks_read_only(admin_client):
    row = TaskFailure.objects.create(
        task_id="abc", task_name="population.stats_snapshot_month", exception="OperationalError"
    )
    listing = admin_client.get("/admin/ops/taskfailure/")
    assert listing.status_code == 200
    assert "population.stats_snapshot_month" in listing.content.decode()
    assert "失败任务" in listing.content.decode()
    assert admin_client.get("/admin/ops/taskfailure/add/").status_code == 403
    detail = admin_client.get(f"/admin/ops/taskfailure/{row.pk}/change/")
    assert detail.status_code == 200 and 'name="task_name"' not in detail.content.decode()
