"""The detector run as a command and as a Celery task on a real worker and Redis."""

from __future__ import annotations

import io
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import CommandError, call_command
from django.db import connection

from config.celery import app
from population import services as population_services
from registry.quality.models import QualityIssue, QualityRun, RunStatus
from registry.quality.services import RUN_LOCK, quality_detect
from registry.quality.tasks import quality_detect_task
from tests.registry.quality_factories import next_id


def two_same(name: str = "张三") -> list[int]:
    return [
        population_services.person_create(
            citizen_id=next_id(), name=name, actor=None, reason="测试"
        ).pk
        for _ in range(2)
    ]


@pytest.mark.django_db
def test_command_reports_each_detector_and_a_rerun_opens_nothing(village):
    ids = two_same()
    out = io.StringIO()
    call_command("quality_detect", "--detector", "dup_same_name", stdout=out, verbosity=0)
    assert "dup_same_name): 发现/found 1, 新增/new 1," in out.getvalue()
    out = io.StringIO()
    call_command("quality_detect", "--detector", "dup_same_name", stdout=out, verbosity=0)
    assert "发现/found 1, 新增/new 0, 重开/reopened 0, 更新/updated 0" in out.getvalue()
    assert [sorted(i.person_ids) for i in QualityIssue.objects.all()] == [sorted(ids)]


@pytest.mark.django_db
def test_command_refuses_an_unknown_detector(village):
    with pytest.raises(CommandError):
        call_command("quality_detect", "--detector", "nope", verbosity=0)
    assert QualityRun.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_run_while_one_holds_the_lock_is_refused(village):
    from django.db import connections
    from django.db.utils import ConnectionHandler

    other = ConnectionHandler(connections.settings)["default"]
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [RUN_LOCK])
    try:
        with pytest.raises(CommandError, match="正在运行"):
            call_command("quality_detect", verbosity=0)
    finally:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [RUN_LOCK])
        other.close()
    assert QualityRun.objects.count() == 0
    assert quality_detect(detectors=["household_no_head"]).status == RunStatus.DONE
    assert connection.is_usable()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_the_detectors_through_redis_and_a_rerun_opens_nothing(village):
    ids = two_same("王五")
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue]):
        first = quality_detect_task.apply_async(
            kwargs={"detectors": ["dup_same_name"]}, queue=queue
        ).get(timeout=60)
        second = quality_detect_task.apply_async(
            kwargs={"detectors": ["dup_same_name"]}, queue=queue
        ).get(timeout=60)

    assert first["status"] == second["status"] == "done"
    assert first["results"]["dup_same_name"]["new"] == 1
    assert second["results"]["dup_same_name"] == {
        "found": 1,
        "new": 0,
        "reopened": 0,
        "updated": 0,
        "resolved": 0,
    }
    assert [sorted(i.person_ids) for i in QualityIssue.objects.all()] == [sorted(ids)]
