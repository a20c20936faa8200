"""Reads of the settlement app: queues, overdue steps, settled counts against targets."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from population.regions import code_prefix
from settlement.models import OPEN_STATUSES, Application, ApplicationTransition, RuleSet, Status

# Which statuses each role works on (the admin queue).
ROLE_QUEUES = {
    "acceptor": [Status.SUBMITTED],
    "reviewer": [Status.ACCEPTED, Status.UNDER_REVIEW],
    "approver": [Status.UNDER_REVIEW],
    "issuer": [Status.APPROVED, Status.PERMIT_ISSUED],
}


def applications_queue(*, role: str, user=None) -> QuerySet[Application]:
    """A role's work list; an approver never sees what they accepted themselves."""
    qs = Application.objects.filter(status__in=ROLE_QUEUES[role]).select_related("rule_set")
    if role == "approver" and user is not None:
        qs = qs.exclude(accepted_by=user)
    return qs.order_by("step_due", "pk")


def applications_overdue(*, on: dt.date) -> QuerySet[Application]:
    """Open applications whose current step's working-day deadline has passed."""
    return (
        Application.objects.filter(status__in=OPEN_STATUSES, step_due__lt=on)
        .select_related("rule_set")
        .order_by("step_due", "pk")
    )


def application_history(*, application: Application) -> QuerySet[ApplicationTransition]:
    return application.transitions.select_related("officer").order_by("at", "pk")


def settled_counts(*, city_code: str, start: dt.date, end: dt.date) -> dict[str, int]:
    """Completed applications per channel, the applicant and members each counted."""
    rows = (
        Application.objects.filter(
            rule_set__city_code=city_code,
            status=Status.COMPLETED,
            completed_on__gte=start,
            completed_on__lte=end,
        )
        .values("channel")
        .annotate(n=Count("pk", distinct=True), member_n=Count("members", distinct=True))
    )
    return {r["channel"]: r["n"] + r["member_n"] for r in rows}


def targets_progress(*, city_code: str) -> list[dict]:
    """Every target of the city's rule sets with the persons settled in its period."""
    out = []
    for rule_set in RuleSet.objects.filter(city_code=city_code).order_by("effective_from"):
        for target in rule_set.content.get("targets", []):
            start = dt.date.fromisoformat(target["from"])
            end = dt.date.fromisoformat(target["to"])
            counts = settled_counts(city_code=city_code, start=start, end=end)
            settled = (
                counts.get(target["channel"], 0) if target.get("channel") else sum(counts.values())
            )
            out.append(
                {
                    "city": rule_set.city,
                    "version": rule_set.version,
                    "channel": target.get("channel"),
                    "channel_name": (rule_set.channel(target["channel"]) or {}).get(
                        "name", target["channel"]
                    )
                    if target.get("channel")
                    else "",
                    "zh": target.get("zh", ""),
                    "from": start,
                    "to": end,
                    "target": target["count"],
                    "settled": settled,
                    "remaining": max(target["count"] - settled, 0),
                    "share": round(settled / target["count"], 4),
                }
            )
    return out


def open_application_for(*, citizen_id: str) -> Application | None:
    return Application.objects.filter(Q(citizen_id=citizen_id), status__in=OPEN_STATUSES).first()


def settlements_by_channel_in_month(region_code: str, month_end: dt.date) -> dict[str, int]:
    """Persons settled (applicant and members) per channel in the month, by target area."""
    rows = (
        Application.objects.filter(
            status=Status.COMPLETED,
            completed_on__gte=month_end.replace(day=1),
            completed_on__lte=month_end,
            household__region__code__startswith=code_prefix(region_code),
        )
        .values("channel")
        .annotate(n=Count("pk", distinct=True), member_n=Count("members", distinct=True))
        .order_by("channel")
    )
    return {r["channel"]: r["n"] + r["member_n"] for r in rows}


def settlements_by_channel_named(region_code: str, month_end: dt.date) -> dict[str, int]:
    """The same counts keyed by the channel's Chinese name (what reports show)."""
    names: dict[str, str] = {}
    # The region's own city first, so a code shared by several cities gets its local name.
    rule_sets = sorted(
        RuleSet.objects.all(), key=lambda r: (r.city_code[:4] != region_code[:4], r.pk)
    )
    for rule_set in rule_sets:
        for channel in rule_set.content["channels"]:
            names.setdefault(channel["code"], channel["name"])
    out: dict[str, int] = {}
    for code, n in settlements_by_channel_in_month(region_code, month_end).items():
        name = names.get(code, code)
        out[name] = out.get(name, 0) + n
    return out
