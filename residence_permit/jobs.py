"""Periodic jobs (Celery beat): each takes a session advisory lock so two runs never overlap,
works one person or permit per short transaction, and is idempotent."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q

from population.clock import today
from population.locks import session_lock
from population.models import Person
from residence_permit import points, rules, services
from residence_permit.models import (
    PermitEvent,
    PermitStatus,
    PersonFact,
    PointsAccount,
    ResidencePermit,
)


def permits_daily_job(*, on: dt.date | None = None) -> dict[str, int]:
    with session_lock("popbase.job.permits_daily") as acquired:
        if not acquired:
            return {"skipped": 1}
        return services.permits_daily_run(on=on)


def persons_needing_points(*, on: dt.date) -> list[int]:
    """Holders never computed, or whose facts or permit changed since, or whose residence
    years grew since the last computation."""
    account = PointsAccount.objects.filter(person_id=OuterRef("person_id"))
    changed_fact = PersonFact.objects.filter(
        person_id=OuterRef("person_id"),
        changed_at__gt=OuterRef("person__points_account__computed_at"),
    )
    permit_event = PermitEvent.objects.filter(
        permit_id=OuterRef("pk"), recorded_at__gt=OuterRef("person__points_account__computed_at")
    ).exclude(kind="remind")
    candidates = (
        ResidencePermit.objects.annotate(
            has_account=Exists(account),
            fact_changed=Exists(changed_fact),
            permit_changed=Exists(permit_event),
        )
        .filter(
            Q(has_account=False)
            | Q(fact_changed=True)
            | Q(permit_changed=True)
            | Q(status=PermitStatus.ACTIVE)
        )
        .values_list(
            "person_id",
            "status",
            "continuous_since",
            "has_account",
            "fact_changed",
            "permit_changed",
            "person__points_account__computed_on",
        )
    )
    due = set()
    for pid, status, since, has_account, fact_changed, permit_changed, last in candidates:
        changed = not has_account or fact_changed or permit_changed
        grew = (
            not changed
            and status == PermitStatus.ACTIVE
            and (rules.whole_years_between(since, on) != rules.whole_years_between(since, last))
        )
        if changed or grew:
            due.add(pid)
    return sorted(due)


def points_recompute_changed_job(*, on: dt.date | None = None) -> dict[str, int]:
    on = on or today()
    with session_lock("popbase.job.points_recompute") as acquired:
        if not acquired:
            return {"skipped": 1}
        persons = persons_needing_points(on=on)
        entries = 0
        for pid in persons:
            entries += len(points.points_recompute(person=Person(pk=pid), on=on))
        return {"persons": len(persons), "entries": entries}
