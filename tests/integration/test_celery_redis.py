"""Celery against the real Redis broker with a real worker (no eager mode, no mocks).

Needs Redis at REDIS_URL (CI and `make test` set it); the test fails, never skips, without it.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from config.celery import app
from population.models import Region, RegionLevel
from population.tasks import regions_load_reference_task


def test_redis_is_configured_and_reachable():
    assert settings.REDIS_URL, "REDIS_URL must point at a Redis server for this suite"
    assert redis.Redis.from_url(settings.REDIS_URL).ping() is True
    assert app.conf.task_always_eager is False


# The flush afterwards empties the tables; population.replay puts the roles back.
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_region_task_through_redis_and_a_rerun_changes_nothing():
    queue = f"test-{uuid.uuid4().hex}"  # parallel test processes never take each other's tasks
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue]):
        first = regions_load_reference_task.apply_async(queue=queue).get(timeout=60)
        townships = Region.objects.filter(level=RegionLevel.TOWNSHIP).count()
        second = regions_load_reference_task.apply_async(queue=queue).get(timeout=60)

    assert (
        first
        == second
        == {
            "provinces": 2,
            "cities": 5,
            "counties": 44,
            "townships": 548,
            "county_codes": 105,
        }
    )
    assert townships == Region.objects.filter(level=RegionLevel.TOWNSHIP).count() == 548
