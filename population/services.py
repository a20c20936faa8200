"""Writes to the base library. Every write runs in a transaction with a history context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pghistory
from django.db import IntegrityError, connection, transaction

from population.actors import Actor, officer_or_none
from population.errors import Conflict, DomainError, require_citizen_id
from population.jurisdiction import actor_require_within
from population.locks import advisory_xact_lock
from population.models import (
    ChangeEvent,
    ChangeFeedMonth,
    CitizenIdCorrection,
    Person,
    PersonStatus,
    Region,
)

PERSON_EDITABLE_FIELDS = frozenset({"name", "ethnicity", "hukou_region", "residence_region"})


def history_context(*, actor: Actor, reason: str):
    """Who and why, attached to every history row the enclosed writes produce."""
    return pghistory.context(user=getattr(actor, "pk", None), reason=reason)


@transaction.atomic
def person_create(
    *,
    citizen_id: str,
    name: str,
    actor: Actor,
    reason: str,
    ethnicity: str = "01",
    hukou_region: Region | None = None,
    residence_region: Region | None = None,
) -> Person:
    """Record a person. Sex and birth date are taken from the ID, so they always agree."""
    parsed = require_citizen_id(citizen_id)
    actor_require_within(actor, regions=[hukou_region, residence_region])
    name = name.strip()
    if not name:
        raise DomainError("姓名不能为空", "name must not be empty", code="invalid_name")
    with history_context(actor=actor, reason=reason):
        try:
            with transaction.atomic():
                return Person.objects.create(
                    citizen_id=str(parsed),
                    name=name,
                    sex=parsed.sex,
                    birth_date=parsed.birth_date,
                    ethnicity=ethnicity,
                    hukou_region=hukou_region,
                    residence_region=residence_region,
                )
        except IntegrityError as exc:
            if Person.objects.filter(citizen_id=str(parsed)).exists():
                raise Conflict(
                    f"公民身份号码{parsed.masked}已登记",
                    f"citizen ID {parsed.masked} is already recorded",
                    code="duplicate_citizen_id",
                ) from exc
            raise


@transaction.atomic
def person_update(*, person: Person, actor: Actor, reason: str, **changes: Any) -> Person:
    """Change editable fields; the citizen ID changes only through ``person_correct_citizen_id``."""
    unknown = set(changes) - PERSON_EDITABLE_FIELDS
    if unknown:
        raise DomainError(
            f"不可修改的字段：{', '.join(sorted(unknown))}",
            f"fields not editable here: {', '.join(sorted(unknown))}",
            code="field_not_editable",
        )
    person = Person.objects.select_for_update().get(pk=person.pk)
    actor_require_within(
        actor,
        person,
        regions=[changes[f] for f in ("hukou_region", "residence_region") if f in changes],
    )
    if person.status != PersonStatus.ACTIVE:
        raise Conflict(
            "人员已死亡或注销，不能修改", "person is deceased or cancelled", code="person_inactive"
        )
    for field, value in changes.items():
        setattr(person, field, value.strip() if field == "name" else value)
    if not person.name:
        raise DomainError("姓名不能为空", "name must not be empty", code="invalid_name")
    with history_context(actor=actor, reason=reason):
        person.save(update_fields=[*changes, "updated_at"])
    return person


@transaction.atomic
def person_correct_citizen_id(
    *, person: Person, new_citizen_id: str, actor: Actor, reason: str, document_number: str = ""
) -> Person:
    """Correct a wrong or duplicate citizen ID; the old number keeps finding the person.

    Sex and birth date follow the corrected number, and the correction is an append-only event.
    """
    if not reason.strip():
        raise DomainError("必须填写更正原因", "a reason is required", code="reason_required")
    parsed = require_citizen_id(new_citizen_id)
    person = Person.objects.select_for_update().get(pk=person.pk)
    actor_require_within(actor, person)
    old = person.citizen_id
    if old == str(parsed):
        raise DomainError(
            "新号码与原号码相同", "the new number equals the old one", code="no_change"
        )
    if Person.objects.filter(citizen_id=str(parsed)).exists():
        raise Conflict(
            f"公民身份号码{parsed.masked}已属于他人",
            f"citizen ID {parsed.masked} belongs to another person",
            code="duplicate_citizen_id",
        )
    with history_context(actor=actor, reason=reason):
        person.citizen_id = str(parsed)
        person.sex = parsed.sex
        person.birth_date = parsed.birth_date
        person.save(update_fields=["citizen_id", "sex", "birth_date", "updated_at"])
        CitizenIdCorrection.objects.create(
            person=person,
            old_citizen_id=old,
            new_citizen_id=person.citizen_id,
            reason=reason.strip(),
            document_number=document_number,
            officer=officer_or_none(actor),
        )
        change_record(kind="id_correction", person=person, source="population.id_correction")
    return person


# Serialises the outbox's writers from their insert to their commit (see change_record).
CHANGE_FEED_LOCK = "popbase.change_feed"
# The clock the feed's times come from: the database's, read under the lock (a test sets another
# expression to write changes at a chosen time, e.g. across a month's end).
CHANGE_FEED_CLOCK = "clock_timestamp()"


def change_record(
    *,
    kind: str,
    person: Person,
    source: str,
    effective_date: dt.date | None = None,
    regions: Iterable[str | None] = (),
) -> ChangeEvent:
    """Append a change of ``person`` to the outbox the department change feed reads.

    Call it inside the transaction that makes the change, as its last write: the registry's
    events, ID corrections here, and later permits and settlements (each kind registered by
    its app in ``population.sharing.scopes.change_kind_hook``). The row's id is the feed order. A
    transaction-scoped advisory lock is taken before the id is drawn and held until commit, so
    a later id is never visible before an earlier one: a reader that resumes after the last id
    it saw misses nothing, even when transactions commit out of their start order. The cost is
    that writers of changes commit one at a time from this call on, which is why it comes last.

    Under the same lock the row's ``recorded_at`` is taken from the database's clock (one clock
    for every writer), raised to the feed's newest time should that clock have gone back: it
    never decreases with the id, which lets the table be partitioned by month on it and a
    reader bound its time (``ChangeFeedMonth``, written here with a month's first change).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("change_record must run inside the transaction making the change")
    codes = {person.hukou_region_id, person.residence_region_id, *regions} - {None, ""}
    with connection.cursor() as cursor:
        advisory_xact_lock(CHANGE_FEED_LOCK, cursor=cursor)
        # The clock is read after the lock is granted.
        cursor.execute(f"SELECT {CHANGE_FEED_CLOCK}::timestamptz")
        (now,) = cursor.fetchone()
        # Usually nothing: only a row recorded while the clock was ahead (pruned to its months).
        cursor.execute(
            f"SELECT max(recorded_at) FROM {ChangeEvent._meta.db_table}"  # noqa: S608
            " WHERE recorded_at >= %s",
            [now],
        )
        (newest,) = cursor.fetchone()
    event = ChangeEvent.objects.create(
        kind=kind,
        person=person,
        effective_date=effective_date,
        recorded_at=max(now, newest) if newest else now,
        regions=sorted(codes),
        source=source,
    )
    month = event.recorded_at.astimezone(dt.UTC).date().replace(day=1)
    ChangeFeedMonth.objects.bulk_create(
        [ChangeFeedMonth(month=month, after_id=event.pk - 1)], ignore_conflicts=True
    )
    return event
