"""The monthly snapshot and recount tasks on a real worker through Redis; the beat entry."""

from __future__ import annotations

import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from config.celery import app
from population.statistics.models import StatSnapshot
from population.statistics.tasks import stats_recount_check_task, stats_snapshot_month_task


def test_the_beat_schedule_snapshots_on_the_first_of_each_month():
    entry = settings.CELERY_BEAT_SCHEDULE["stats-snapshot-month"]
    assert entry["task"] == stats_snapshot_month_task.name
    assert entry["schedule"].day_of_month == {1}


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_takes_the_snapshot_and_a_rerun_changes_nothing(village, make_person):
    for i in range(3):
        make_person(name=f"甲{i}", hukou_region=village, male=i % 2 == 0)
    month = timezone.localdate().strftime("%Y-%m")
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue]):
        first = stats_snapshot_month_task.apply_async(args=[month], queue=queue).get(timeout=60)
        rows = list(
            StatSnapshot.objects.order_by("region_code").values_list(
                "region_code", "resident_total"
            )
        )
        second = stats_snapshot_month_task.apply_async(args=[month], queue=queue).get(timeout=60)
        check = stats_recount_check_task.apply_async(args=[month], queue=queue).get(timeout=60)
    assert first == second == {"month": month, "areas": 3}
    assert rows == [("441800000000", 3), ("441802000000", 3), ("441802006000", 3)]
    assert (
        list(
            StatSnapshot.objects.order_by("region_code").values_list(
                "region_code", "resident_total"
            )
        )
        == rows
    )
    assert check == {"month": month, "differences": 0, "first": []}
