"""Reads of the department sync: batch progress (for the API), kinship and facts for rules."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

from django.db.models import Q, QuerySet

from population.errors import NotFound
from population.exports import SafeCsvWriter
from population.identity import mask_citizen_id
from population.models import Person
from population.sync.feeds import FactKind
from population.sync.models import Batch, Fact, FollowUp, FollowUpStatus


def batch_progress(*, batch_id: int, department: str | None = None) -> dict:
    """Status of a batch as the department API returns it; another department's is not found."""
    qs = Batch.objects.defer("content")
    if department is not None:
        qs = qs.filter(department=department)
    batch = qs.filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("批次不存在", "no such batch", code="batch_not_found")
    return {
        "id": batch.pk,
        "department": batch.department,
        "feed": batch.feed,
        "schema_version": batch.schema_version,
        "status": batch.status,
        "percent": batch.percent,
        "received": batch.received,
        "applied": batch.applied,
        "unchanged": batch.unchanged,
        "rejected": batch.rejected,
        "attempts": batch.attempts,
        "received_at": batch.received_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


def rejected_rows_csv(*, batch: Batch, full_citizen_id: bool = False) -> Iterator[str]:
    """The batch's rejected rows as CSV lines (line, reason code, reason, raw row).

    Without ``full_citizen_id`` 18-character numbers in the raw row are masked.
    """
    import re

    number = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")
    buf = io.StringIO()
    writer = SafeCsvWriter(buf, lineterminator="\n")
    writer.writerow(["line", "reason_code", "reason", "raw"])
    yield "\ufeff" + buf.getvalue()  # BOM: spreadsheet programs then read UTF-8
    for row in batch.rejected_rows.order_by("line_no").iterator(chunk_size=2000):
        raw = row.raw if full_citizen_id else number.sub(lambda m: mask_citizen_id(m[0]), row.raw)
        buf.seek(0)
        buf.truncate()
        writer.writerow([row.line_no, row.reason_code, row.reason, raw])
        yield buf.getvalue()


def facts_of_person(
    *, person: Person, kind: str | None = None, on: dt.date | None = None
) -> QuerySet[Fact]:
    """A person's department facts, optionally of one kind and valid on a date."""
    qs = Fact.objects.filter(person=person)
    if kind:
        qs = qs.filter(kind=kind)
    if on:
        qs = qs.filter(Q(valid_from__isnull=True) | Q(valid_from__lte=on)).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=on)
        )
    return qs.order_by("kind", "record_no")


def spouse_of(*, person: Person, on: dt.date | None = None) -> str | None:
    """The citizen ID of the person's spouse on a date, from 民政 marriage and divorce facts.

    The latest marriage on or before the date counts unless a divorce from the same spouse was
    registered after it (and on or before the date). A kinship fact for settlement rules.
    """
    on = on or dt.date.today()  # noqa: DTZ011 - a calendar date
    events = (
        Fact.objects.filter(
            Q(person=person) | Q(counterpart=person),
            kind__in=[FactKind.MARRIAGE, FactKind.DIVORCE],
            event_date__lte=on,
        )
        .select_related("person")
        .order_by("event_date", "kind")
    )
    spouse = None
    for fact in events:
        other = (
            fact.counterpart_citizen_id if fact.person_id == person.pk else fact.person.citizen_id
        )
        if fact.kind == FactKind.MARRIAGE:
            spouse = other
        elif other == spouse:
            spouse = None
    return spouse


def social_insurance_months(*, person: Person, insurance_type: str = "基本养老保险") -> int:
    """Months of contributions in the city for one insurance type, as 人社 last reported."""
    fact = (
        Fact.objects.filter(
            person=person,
            kind=FactKind.SOCIAL_INSURANCE,
            detail__insurance_type=insurance_type,
        )
        .order_by("-event_date", "-months")
        .first()
    )
    return fact.months if fact and fact.months else 0


def followups_open(*, kind: str | None = None) -> QuerySet[FollowUp]:
    """Open items for officers (the registry admin lists these), oldest first."""
    qs = FollowUp.objects.filter(status=FollowUpStatus.OPEN).select_related("person", "fact")
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("created_at", "id")
