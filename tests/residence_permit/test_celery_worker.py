"""The permit jobs through the real Redis broker and a real Celery worker (no eager mode)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app
from residence_permit import services
from residence_permit.models import PermitStatus, PointsEntry, ResidencePermit
from residence_permit.tasks import permits_daily_task, points_recompute_changed_task


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_both_jobs_and_reruns_change_nothing(gz_holder):
    assert app.conf.task_always_eager is False
    permit = gz_holder()  # due 2025-02-28; never endorsed
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue]):
        daily = [
            permits_daily_task.apply_async(args=["2025-03-31"], queue=queue).get(timeout=60)
            for _ in range(2)
        ]
        # The lapsed holder has no usable points; renew, then recompute twice.
        services.permit_renew(permit=permit, actor=None, on=dt.date(2025, 4, 1))
        recompute = [
            points_recompute_changed_task.apply_async(args=["2026-03-01"], queue=queue).get(
                timeout=60
            )
            for _ in range(2)
        ]

    assert daily == [
        {"reminded": 0, "lapsed": 1, "expired": 0, "deceased": 0},
        {"reminded": 0, "lapsed": 0, "expired": 0, "deceased": 0},
    ]
    # Renewed 2025-04-01: residence counts afresh, under a year by 2026-03-01; employment 2 years.
    assert recompute == [{"persons": 1, "entries": 1}, {"persons": 0, "entries": 0}]
    assert ResidencePermit.objects.get(pk=permit.pk).status == PermitStatus.ACTIVE
    assert list(PointsEntry.objects.values_list("indicator", "points")) == [("stable_job", 4)]
