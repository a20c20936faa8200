"""Moves: 迁出, 迁入, 市内迁移, 挂靠 and 集体户落户."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction

from population.actors import Actor
from population.codes import Relation
from population.errors import Conflict, check_date, require, require_citizen_id
from population.jurisdiction import actor_require_within
from population.models import Person
from population.services import history_context
from registry.models import EventKind, Household, HouseholdKind, Membership, RegistrationEvent
from registry.services._common import (
    COLLECTIVE_KINDS,
    HEAD_RELATIONS,
    _check_relation,
    _close,
    _event,
    _expect_in,
    _head_leaving_others_behind,
    _join,
    _lock,
    _lock_person,
    _move,
    _open_membership,
    _set_hukou,
)


def _transfer_permit_number(on: dt.date) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('registry_transfer_permit_seq')")
        serial = cursor.fetchone()[0]
    return f"QC{on:%Y}{serial:08d}"


@transaction.atomic
def move_out(
    *,
    person: Person,
    from_household: Household,
    destination: str,
    on: dt.date,
    actor: Actor,
    reason: str = "迁出",
) -> RegistrationEvent:
    """迁出: leave the city; a 户口迁移证 number is issued; no longer registered here."""
    require(
        bool(destination.strip()),
        "须填写迁往地",
        "the destination is required",
        "destination_required",
    )
    person = _lock_person(person)
    actor_require_within(actor, person)
    membership = _expect_in(_open_membership(person), from_household)
    check_date(on, not_before=membership.start_date)
    require(
        not _head_leaving_others_behind(membership),
        "户主迁出前须先变更户主",
        "change the head before the head moves out",
        "head_must_change",
    )
    with history_context(actor=actor, reason=reason):
        _close(membership, on)
        _set_hukou(person, None)
        return _event(
            EventKind.MOVE_OUT,
            person,
            actor,
            reason,
            from_household=membership.household,
            effective_date=on,
            document_type="户口迁移证",
            document_number=_transfer_permit_number(on),
            details={"destination": destination.strip()},
        )


@transaction.atomic
def move_in(
    *,
    citizen_id: str,
    name: str,
    household: Household,
    relation: str,
    transfer_permit_number: str,
    on: dt.date,
    actor: Actor,
    ethnicity: str = "01",
    reason: str = "迁入",
) -> Person:
    """迁入: someone from elsewhere settles here with an incoming 户口迁移证."""
    parsed = require_citizen_id(citizen_id)
    require(
        bool(transfer_permit_number.strip()),
        "须提供户口迁移证编号",
        "the household transfer permit number is required",
        "document_required",
    )
    check_date(on, not_before=parsed.birth_date)
    _check_relation(relation)
    # Persons before households, as every service locks them, so no two events deadlock.
    existing = Person.objects.filter(citizen_id=str(parsed)).first()
    locked, (household,) = _lock([existing] if existing is not None else [], [household])
    person = locked[0] if locked else None
    # The destination decides: whoever moves in comes from outside the area.
    actor_require_within(actor, household)
    with history_context(actor=actor, reason=reason):
        if person is None:
            require(bool(name.strip()), "姓名不能为空", "name must not be empty", "invalid_name")
            try:
                with transaction.atomic():
                    person = Person.objects.create(
                        citizen_id=str(parsed),
                        name=name.strip(),
                        sex=parsed.sex,
                        birth_date=parsed.birth_date,
                        ethnicity=ethnicity,
                    )
            except IntegrityError as exc:  # the same number moved in by someone else meanwhile
                raise Conflict(
                    "户籍状态已被他人变更，请刷新后重试",
                    "the registration changed meanwhile; reload and try again",
                    code="conflict",
                ) from exc
        else:
            require(
                _open_membership(person) is None,
                "此人已在本市登记户籍，应办理市内迁移",
                "this person is already registered in the city; use a move within the city",
                "already_registered",
            )
            last_left = (
                Membership.objects.filter(person=person)
                .order_by("-end_date")
                .values_list("end_date", flat=True)
                .first()
            )
            if last_left is not None:
                check_date(on, not_before=last_left)
        _join(person, household, relation, on)
        _set_hukou(person, household.region)
        _event(
            EventKind.MOVE_IN,
            person,
            actor,
            reason,
            to_household=household,
            effective_date=on,
            document_type="户口迁移证",
            document_number=transfer_permit_number.strip(),
        )
    return person


@transaction.atomic
def move_within_city(
    *,
    person: Person,
    from_household: Household,
    to_household: Household,
    relation: str,
    on: dt.date,
    actor: Actor,
    reason: str = "市内迁移",
) -> Membership:
    """市内迁移: from one household of the city to another."""
    return _move(
        EventKind.MOVE_WITHIN,
        person=person,
        from_household=from_household,
        to_household=to_household,
        relation=relation,
        on=on,
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def attach_to_relative(
    *,
    person: Person,
    from_household: Household,
    to_household: Household,
    relation: str,
    owner_consent_document: str,
    on: dt.date,
    actor: Actor,
    reason: str = "挂靠亲属户",
) -> Membership:
    """挂靠: join a relative's family household with the owner's recorded consent."""
    require(
        bool(owner_consent_document.strip()),
        "挂靠须有房屋所有权人（户主）同意证明",
        "attaching needs the owner's written consent",
        "consent_required",
    )
    require(
        to_household.kind == HouseholdKind.FAMILY,
        "只能挂靠到家庭户",
        "one can attach to a family household only",
        "bad_household_kind",
    )
    require(
        relation not in (*HEAD_RELATIONS, Relation.NON_RELATIVE),
        "挂靠人须为户主的亲属",
        "the person attached must be a relative of the head",
        "bad_relation",
    )
    return _move(
        EventKind.ATTACH,
        person=person,
        from_household=from_household,
        to_household=to_household,
        relation=relation,
        on=on,
        actor=actor,
        reason=reason,
        document_type="户主同意证明",
        document_number=owner_consent_document.strip(),
    )


@transaction.atomic
def settle_into_collective(
    *,
    person: Person,
    from_household: Household | None,
    to_household: Household,
    on: dt.date,
    actor: Actor,
    reason: str = "集体户落户",
) -> Membership:
    """集体户落户: into a unit, public/community or talent collective household.

    From a household of the city (``from_household``), or with no membership yet (a person
    recorded but not registered here), as a settlement without an address of its own does.
    """
    require(
        to_household.kind in COLLECTIVE_KINDS,
        "目标户不是集体户",
        "the target household is not a collective household",
        "bad_household_kind",
    )
    if from_household is not None:
        return _move(
            EventKind.COLLECTIVE,
            person=person,
            from_household=from_household,
            to_household=to_household,
            relation=Relation.NON_RELATIVE,
            on=on,
            actor=actor,
            reason=reason,
        )
    (person,), (to_household,) = _lock([person], [to_household])
    actor_require_within(actor, to_household)
    _expect_in(_open_membership(person), None)
    check_date(on, not_before=person.birth_date)
    with history_context(actor=actor, reason=reason):
        joined = _join(person, to_household, Relation.NON_RELATIVE, on)
        _set_hukou(person, to_household.region)
        _event(
            EventKind.COLLECTIVE,
            person,
            actor,
            reason,
            to_household=to_household,
            effective_date=on,
        )
    return joined
