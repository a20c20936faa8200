"""The daily permit job and the points recomputation: what they do; a rerun does nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from residence_permit import jobs, points, services
from residence_permit.models import (
    PermitEvent,
    PermitEventKind,
    PermitStatus,
    PersonFactKind,
    PointsEntry,
    ResidencePermit,
)

pytestmark = pytest.mark.django_db


def counts(*, reminded=0, lapsed=0, expired=0, deceased=0) -> dict[str, int]:
    return {"reminded": reminded, "lapsed": lapsed, "expired": expired, "deceased": deceased}


def test_the_daily_job_reminds_in_the_window_lapses_after_the_grace_and_reruns_change_nothing(
    holder,
):
    on_time = holder(name="按时")  # due 2025-02-28
    forgetful = holder(name="逾期")
    services.permit_endorse(permit=on_time, actor=None, on=dt.date(2025, 2, 1))

    # The window opens; on_time is endorsed already.
    first = jobs.permits_daily_job(on=dt.date(2025, 1, 29))
    assert first == counts(reminded=1, lapsed=0, expired=0)
    assert jobs.permits_daily_job(on=dt.date(2025, 1, 29)) == counts(
        reminded=0, lapsed=0, expired=0
    )
    assert jobs.permits_daily_job(on=dt.date(2025, 3, 30)) == counts(
        reminded=0, lapsed=0, expired=0
    )
    assert jobs.permits_daily_job(on=dt.date(2025, 3, 31)) == counts(
        reminded=0, lapsed=1, expired=0
    )
    snapshot = list(PermitEvent.objects.order_by("id").values_list("permit_id", "kind", "on"))
    assert jobs.permits_daily_job(on=dt.date(2025, 3, 31))["lapsed"] == 0
    assert list(PermitEvent.objects.order_by("id").values_list("permit_id", "kind", "on")) == (
        snapshot
    )
    statuses = dict(ResidencePermit.objects.values_list("pk", "status"))
    assert statuses == {on_time.pk: PermitStatus.ACTIVE, forgetful.pk: PermitStatus.LAPSED}
    assert PermitEvent.objects.filter(kind=PermitEventKind.REMIND).count() == 1


def test_the_daily_job_expires_permits_past_their_validity(holder):
    permit = holder()  # valid until 2027-02-28
    services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 2, 1))
    services.permit_endorse(permit=permit, actor=None, on=dt.date(2026, 2, 1))
    assert jobs.permits_daily_job(on=dt.date(2027, 2, 28))["expired"] == 0
    assert jobs.permits_daily_job(on=dt.date(2027, 3, 1))["expired"] == 1
    assert ResidencePermit.objects.get(pk=permit.pk).status == PermitStatus.EXPIRED
    assert jobs.permits_daily_job(on=dt.date(2027, 3, 1))["expired"] == 0


def test_points_recomputation_picks_changed_holders_only_and_a_rerun_appends_nothing(gz_holder):
    a, b = gz_holder(name="甲"), gz_holder(name="乙")
    on = dt.date(2026, 3, 1)  # two years of residence and of employment each
    assert jobs.points_recompute_changed_job(on=on) == {"persons": 2, "entries": 4}
    assert jobs.points_recompute_changed_job(on=on) == {"persons": 0, "entries": 0}
    services.person_fact_record(
        person=a.person,
        kind=PersonFactKind.TAX,
        start_date=dt.date(2025, 1, 1),
        quantity=25000,
        evidence="完税证明 T-9",
        actor=None,
    )
    assert jobs.points_recompute_changed_job(on=on) == {"persons": 1, "entries": 1}
    assert jobs.points_recompute_changed_job(on=on) == {"persons": 0, "entries": 0}
    policy = points.policy_in_force(city_code="440100", on=on)
    assert points.points_total(person=a.person, policy=policy) == 6 + 4 + 4
    # On the next anniversary of residence (31 Aug) both holders have grown a year.
    assert jobs.persons_needing_points(on=dt.date(2026, 8, 30)) == []
    assert jobs.persons_needing_points(on=dt.date(2026, 8, 31)) == sorted(
        [a.person_id, b.person_id]
    )
    assert PointsEntry.objects.filter(person=b.person).count() == 2


def test_the_daily_job_cancels_the_permit_of_a_holder_who_died(holder):
    from registry.services import death_cancel

    permit = holder()
    death_cancel(
        person=permit.person, death_date=dt.date(2024, 6, 1), document_number="SW-1", actor=None
    )
    counts = jobs.permits_daily_job(on=dt.date(2024, 6, 2))
    assert counts["deceased"] == 1
    cancelled = ResidencePermit.objects.get(pk=permit.pk)
    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancelled_on) == (
        PermitStatus.CANCELLED,
        "deceased",
        dt.date(2024, 6, 2),
    )
    assert jobs.permits_daily_job(on=dt.date(2024, 6, 2))["deceased"] == 0
