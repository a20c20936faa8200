"""变更更正登记: corrections of identity fields (proposed, then approved or refused) and of
the relation to the head.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.clock import today
from population.codes import ETHNICITIES
from population.errors import Conflict, check_date, require, require_citizen_id
from population.identity import mask_citizen_id
from population.jurisdiction import actor_require_within
from population.models import Person
from population.services import history_context, person_correct_citizen_id, person_update
from registry.models import (
    IDENTITY_FIELDS,
    Correction,
    CorrectionField,
    CorrectionStatus,
    EventKind,
    Household,
    Membership,
    RegistrationEvent,
)
from registry.services._common import (
    HEAD_RELATIONS,
    _check_relation,
    _event,
    _expect_in,
    _lock,
    _lock_person,
    _open_membership,
)

# -- 变更更正登记 (corrections of recorded fields) ------------------------------------------------


def _identity_value(person: Person, field: str) -> str:
    return str(getattr(person, field))


def _correction_new_value(field: str, value: str) -> str:
    value = (value or "").strip()
    if field == CorrectionField.CITIZEN_ID:
        return str(require_citizen_id(value))
    if field == CorrectionField.ETHNICITY:
        require(
            value in dict(ETHNICITIES),
            "民族应为GB 3304代码表中的民族",
            "the ethnicity must be a GB 3304 code",
            "bad_ethnicity",
        )
        return value
    require(bool(value), "姓名不能为空", "name must not be empty", "invalid_name")
    require(len(value) <= 50, "姓名过长（至多50字）", "name too long (50 at most)", "invalid_name")
    return value


@transaction.atomic
def correction_propose(
    *,
    person: Person,
    field: str,
    new_value: str,
    document_type: str,
    document_number: str,
    reason: str,
    actor: Actor,
) -> Correction:
    """变更更正登记 of an identity field (name, citizen ID with sex and birth date, ethnicity):
    recorded as pending until a supervisor approves or refuses it; nothing changes meanwhile."""
    require(
        field in IDENTITY_FIELDS,
        "此项目不需审批，或不能更正",
        "this field is not corrected through approval",
        "bad_field",
    )
    require(
        bool(document_type.strip() and document_number.strip()),
        "须填写更正依据的材料及编号",
        "the supporting document and its number are required",
        "document_required",
    )
    require(bool(reason.strip()), "必须填写原因", "a reason is required", "reason_required")
    person = _lock_person(person)
    actor_require_within(actor, person)
    new = _correction_new_value(field, new_value)
    old = _identity_value(person, field)
    require(new != old, "更正内容与原内容相同", "the new value equals the old one", "no_change")
    if field == CorrectionField.CITIZEN_ID:
        require(
            not Person.objects.filter(citizen_id=new).exists(),
            f"公民身份号码{mask_citizen_id(new)}已属于他人",
            f"citizen ID {mask_citizen_id(new)} belongs to another person",
            "duplicate_citizen_id",
        )
    require(
        not Correction.objects.filter(
            person=person, field=field, status=CorrectionStatus.PENDING
        ).exists(),
        "此人此项已有待审批的更正",
        "a correction of this field is already pending",
        "correction_pending",
    )
    with history_context(actor=actor, reason=reason):
        return Correction.objects.create(
            person=person,
            field=field,
            old_value=old,
            new_value=new,
            document_type=document_type.strip(),
            document_number=document_number.strip(),
            reason=reason.strip(),
            proposed_by=officer_or_none(actor),
        )


def _lock_pending(correction: Correction, actor: Actor) -> Correction:
    locked = Correction.objects.select_for_update().get(pk=correction.pk)
    actor_require_within(actor, locked)  # first: nothing about a record outside is told
    if locked.status != CorrectionStatus.PENDING:
        raise Conflict(
            f"此更正{locked.get_status_display()}，不能再审批",
            "this correction has already been decided",
            code="already_decided",
        )
    require(
        locked.proposed_by_id is None or locked.proposed_by_id != getattr(actor, "pk", None),
        "申请人不能审批本人提交的更正",
        "the officer who proposed a correction cannot decide it",
        "four_eyes",
    )
    return locked


@transaction.atomic
def correction_approve(*, correction: Correction, actor: Actor, note: str = "") -> Correction:
    """Approve: the field changes, and a 变更更正登记 event records the old and new values."""
    correction = _lock_pending(correction, actor)
    person = _lock_person(correction.person)
    require(
        _identity_value(person, correction.field) == correction.old_value,
        "此项已被他人变更，请驳回后重新申请",
        "the field changed since the proposal; refuse it and propose again",
        "stale_correction",
    )
    reason = f"变更更正登记：{correction.reason}"
    if correction.field == CorrectionField.CITIZEN_ID:
        person_correct_citizen_id(
            person=person,
            new_citizen_id=correction.new_value,
            actor=actor,
            reason=reason,
            document_number=correction.document_number,
        )
    else:
        person_update(
            person=person, actor=actor, reason=reason, **{correction.field: correction.new_value}
        )
    person.refresh_from_db()
    now = timezone.now()
    with history_context(actor=actor, reason=reason):
        membership = Membership.objects.filter(person=person, end_date__isnull=True).first()
        event = _event(
            EventKind.CORRECTION,
            person,
            actor,
            correction.reason,
            from_household=membership.household if membership else None,
            effective_date=today(),
            document_type=correction.document_type,
            document_number=correction.document_number,
            details={
                "field": correction.field,
                "old": correction.old_value,
                "new": correction.new_value,
                "proposed_by": getattr(correction.proposed_by, "username", ""),
                "approved_by": getattr(actor, "username", ""),
                "correction": correction.pk,
            },
        )
        correction.status = CorrectionStatus.APPROVED
        correction.decided_by = officer_or_none(actor)
        correction.decided_at = now
        correction.decision_note = note.strip()
        correction.event = event
        correction.save(
            update_fields=["status", "decided_by", "decided_at", "decision_note", "event"]
        )
    return correction


@transaction.atomic
def correction_refuse(*, correction: Correction, actor: Actor, note: str) -> Correction:
    """Refuse with a reason; the record stays as it was."""
    require(bool(note.strip()), "驳回须说明理由", "a refusal needs a reason", "reason_required")
    correction = _lock_pending(correction, actor)
    with history_context(actor=actor, reason=f"驳回变更更正：{note.strip()}"):
        correction.status = CorrectionStatus.REFUSED
        correction.decided_by = officer_or_none(actor)
        correction.decided_at = timezone.now()
        correction.decision_note = note.strip()
        correction.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return correction


@transaction.atomic
def relation_correct(
    *,
    person: Person,
    household: Household | None,
    relation: str,
    document_type: str,
    document_number: str,
    on: dt.date | None = None,
    actor: Actor,
    reason: str,
) -> RegistrationEvent:
    """变更更正登记 of 与户主关系: the recorded relation was wrong (the head: 变更户主 only)."""
    on = on or today()
    check_date(on)
    _check_relation(relation)
    require(
        bool(document_type.strip() and document_number.strip()),
        "须填写更正依据的材料及编号",
        "the supporting document and its number are required",
        "document_required",
    )
    require(
        relation not in HEAD_RELATIONS,
        "户主须通过“变更户主”办理",
        "the head changes through a head change",
        "bad_relation",
    )
    (person,), households = _lock([person], [household] if household is not None else [])
    household = households[0] if households else None
    actor_require_within(actor, person, household)
    membership = _expect_in(_open_membership(person), household)
    if membership is None:  # no household given, and none held: nothing to correct
        raise Conflict(
            "此人目前未在本市登记户籍",
            "the person holds no household registration in the city",
            code="not_registered",
        )
    require(
        membership.relation not in HEAD_RELATIONS,
        "户主须通过“变更户主”办理",
        "the head changes through a head change",
        "bad_relation",
    )
    require(
        membership.relation != relation,
        "更正内容与原内容相同",
        "the new value equals the old one",
        "no_change",
    )
    old = membership.relation
    with history_context(actor=actor, reason=f"变更更正登记：{reason}"):
        membership.relation = relation
        membership.save(update_fields=["relation"])
        return _event(
            EventKind.CORRECTION,
            person,
            actor,
            reason,
            from_household=membership.household,
            to_household=membership.household,
            effective_date=on,
            document_type=document_type.strip(),
            document_number=document_number.strip(),
            details={"field": "relation", "old": old, "new": relation},
        )
