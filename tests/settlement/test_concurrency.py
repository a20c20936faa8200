"""Two officers at once, against the real PostgreSQL; and the expiry job on a real worker."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app as celery_app
from population.errors import Conflict
from population.identity import build_citizen_id
from settlement import services
from settlement.models import ApplicationTransition, Status
from settlement.tasks import transfer_permits_expire_task

from ..registry.test_concurrency import run_at_once
from .conftest import ON

pytestmark = pytest.mark.django_db(transaction=True)


def _under_review(officers):
    app = services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 3),
        name="李四",
        evidence={
            "residence_region_code": "441803104",
            "properties": [
                {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
            ],
        },
        actor=None,
    )
    app = services.application_submit(application=app, actor=None, on=ON)
    app = services.application_accept(application=app, actor=officers["officer"], on=ON)
    return services.application_review_start(application=app, actor=officers["officer"], on=ON)


def test_two_supervisors_approving_at_once_make_exactly_one_transition(qy_current, officers):
    app = _under_review(officers)
    approvers = [officers["chief"], officers["chief2"]]

    results = run_at_once(
        2,
        lambda i: services.application_approve(application=app, actor=approvers[i], on=ON),
    )

    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert errors[0].code == "bad_transition"
    assert "已被他人处理" in errors[0].message_zh
    app.refresh_from_db()
    assert app.status == Status.APPROVED
    winner = next(r for r in results if not isinstance(r, Exception))
    assert app.approved_by_id == winner.approved_by_id
    assert ApplicationTransition.objects.filter(application=app, to_status="approved").count() == 1


def test_the_expiry_job_on_a_real_worker_expires_once(qy_current, officers, family_household):
    assert celery_app.conf.task_always_eager is False
    app = services.application_approve(
        application=_under_review(officers), actor=officers["chief"], on=ON
    )
    app = services.application_issue_permit(
        application=app, household=family_household, actor=officers["chief"], on=ON
    )
    day_after = (app.permit_valid_until + dt.timedelta(days=1)).isoformat()
    queue = f"test-{uuid.uuid4().hex}"
    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue]):
        runs = [
            transfer_permits_expire_task.apply_async(args=[day_after], queue=queue).get(timeout=60)
            for _ in range(2)
        ]
    assert runs == [1, 0]
    app.refresh_from_db()
    assert app.status == Status.EXPIRED
