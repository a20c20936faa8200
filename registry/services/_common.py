"""Guards and helpers shared by the registration events: locking, membership checks, the
event record and the move between two households of the city.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, overload

from django.db import IntegrityError, transaction

from population.actors import Actor, officer_or_none
from population.codes import Relation
from population.errors import Conflict, DomainError, check_date, require
from population.jurisdiction import actor_require_within
from population.models import Person, PersonStatus, Region
from population.services import change_record, history_context
from registry.locks import lock_persons_then_households
from registry.models import Household, HouseholdKind, Membership, RegistrationEvent

# 本人 (01) and 户主 (02) both name the head of the household: one per household.
HEAD_RELATIONS = (Relation.SELF, Relation.HEAD)

COLLECTIVE_KINDS = frozenset(
    {
        HouseholdKind.UNIT_COLLECTIVE,
        HouseholdKind.PUBLIC_COLLECTIVE,
        HouseholdKind.TALENT_COLLECTIVE,
    }
)


# -- guards ------------------------------------------------------------------------------------


def _lock(
    persons: Sequence[Person] = (), households: Sequence[Household] = ()
) -> tuple[list[Person], list[Household]]:
    """Lock the persons, then the households (each in id order: ``registry.locks``), and refuse
    an inactive person or a closed household. The rows come back in the order asked."""
    locked_persons, locked_households = lock_persons_then_households(
        [p.pk for p in persons], [h.pk for h in households]
    )
    out_persons = []
    for person in persons:
        locked = locked_persons.get(person.pk)
        if locked is None:
            raise Person.DoesNotExist(f"person {person.pk} does not exist")
        if locked.status != PersonStatus.ACTIVE:
            raise Conflict(
                "人员已死亡或注销，不能办理户籍事项",
                "the person is deceased or cancelled; no registration event is possible",
                code="person_inactive",
            )
        out_persons.append(locked)
    out_households = []
    for household in households:
        locked_household = locked_households.get(household.pk)
        if locked_household is None:
            raise Household.DoesNotExist(f"household {household.pk} does not exist")
        if locked_household.closed_on is not None:
            raise Conflict(
                f"户{locked_household.number}已销户",
                f"household {locked_household.number} is closed",
                code="household_closed",
            )
        out_households.append(locked_household)
    return out_persons, out_households


def _lock_person(person: Person) -> Person:
    return _lock([person])[0][0]


def _lock_household(household: Household) -> Household:
    return _lock(households=[household])[1][0]


def _open_membership(person: Person) -> Membership | None:
    """The person's open membership, locked after the person and any household the event took
    (its own household is read, not locked: a membership lock never reaches back to one)."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("household")
        .filter(person=person, end_date__isnull=True)
        .first()
    )


@overload
def _expect_in(membership: Membership | None, household: Household) -> Membership: ...
@overload
def _expect_in(membership: Membership | None, household: None) -> None: ...
def _expect_in(membership: Membership | None, household: Household | None) -> Membership | None:
    """The officer acted on what they saw: the person must still be in that household.

    Returns the membership: in ``household``, or None when the person was expected outside
    the city's households (``household`` None)."""
    if household is not None and membership is None:
        raise Conflict(
            "此人目前未在本市登记户籍",
            "the person holds no household registration in the city",
            code="not_registered",
        )
    current = membership.household_id if membership else None
    expected = household.pk if household else None
    if current != expected:
        raise Conflict(
            "人员的户籍已被他人变更，请刷新后重试",
            "the person's registration changed meanwhile; reload and try again",
            code="stale_membership",
        )
    return membership


def _head_leaving_others_behind(membership: Membership) -> bool:
    return (
        membership.relation in HEAD_RELATIONS
        and Membership.objects.filter(household_id=membership.household_id, end_date__isnull=True)
        .exclude(pk=membership.pk)
        .exists()
    )


def _close(membership: Membership, on: dt.date) -> None:
    membership.end_date = max(on, membership.start_date)
    membership.save(update_fields=["end_date"])


def _check_relation(relation: str) -> None:
    require(
        relation in Relation.values,
        f"与户主关系代码{relation!r}不在GB/T 4761代码表中",
        f"relation code {relation!r} is not a GB/T 4761 code",
        "bad_relation",
    )


def _join(person: Person, household: Household, relation: str, on: dt.date) -> Membership:
    _check_relation(relation)
    if (
        relation in HEAD_RELATIONS
        and Membership.objects.filter(
            household=household, relation__in=HEAD_RELATIONS, end_date__isnull=True
        ).exists()
    ):
        raise Conflict(
            f"户{household.number}已有户主",
            f"household {household.number} already has a head",
            code="head_exists",
        )
    if household.kind in COLLECTIVE_KINDS and relation in HEAD_RELATIONS:
        raise DomainError(
            "集体户成员不设户主",
            "members of a collective household have no head",
            code="bad_relation",
        )
    try:
        with transaction.atomic():
            return Membership.objects.create(
                person=person, household=household, relation=relation, start_date=on
            )
    except IntegrityError as exc:  # the database guards caught a race the checks missed
        raise Conflict(
            "户籍状态已被他人变更，请刷新后重试",
            "the registration changed meanwhile; reload and try again",
            code="conflict",
        ) from exc


def _set_hukou(person: Person, region: Region | None) -> None:
    person.hukou_region = region
    person.save(update_fields=["hukou_region", "updated_at"])


def _event(
    kind: str, person: Person, actor: Actor, reason: str, **fields: Any
) -> RegistrationEvent:
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    event = RegistrationEvent.objects.create(
        kind=kind,
        person=person,
        officer=officer_or_none(actor),
        reason=reason.strip(),
        **fields,
    )
    change_record(
        kind=kind,
        person=person,
        source=f"registry.{event.pk}",
        effective_date=event.effective_date,
        regions=[h.region_id for h in (event.from_household, event.to_household) if h],
    )
    return event


def _move(
    kind: str,
    *,
    person: Person,
    from_household: Household,
    to_household: Household,
    relation: str,
    on: dt.date,
    actor: Actor,
    reason: str,
    document_type: str = "",
    document_number: str = "",
    details: dict | None = None,
) -> Membership:
    require(
        from_household.pk != to_household.pk,
        "迁入户与原户相同",
        "the target household is the current one",
        "same_household",
    )
    # The person, then both households in id order, so two moves between them cannot deadlock.
    (person,), (_, to_household) = _lock([person], [from_household, to_household])
    actor_require_within(actor, person, to_household)
    membership = _expect_in(_open_membership(person), from_household)
    check_date(on, not_before=membership.start_date)
    require(
        not _head_leaving_others_behind(membership),
        "户主迁出前须先变更户主",
        "change the head before the head leaves",
        "head_must_change",
    )
    with history_context(actor=actor, reason=reason):
        _close(membership, on)
        joined = _join(person, to_household, relation, on)
        _set_hukou(person, to_household.region)
        _event(
            kind,
            person,
            actor,
            reason,
            from_household=membership.household,
            to_household=to_household,
            effective_date=on,
            document_type=document_type,
            document_number=document_number,
            details=details or {},
        )
    return joined
