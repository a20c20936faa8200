"""出生登记 and 死亡注销, and the citizen ID a birth is given."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from population.actors import Actor
from population.errors import Conflict, check_date, require
from population.identity import build_citizen_id
from population.jurisdiction import actor_require_within
from population.locks import advisory_xact_lock
from population.models import CitizenIdCorrection, Person, PersonStatus
from population.services import history_context
from registry.models import EventKind, Household, Membership
from registry.services._common import (
    HEAD_RELATIONS,
    _close,
    _event,
    _join,
    _lock_household,
    _lock_person,
    _open_membership,
)

# -- citizen ID allocation ------------------------------------------------------------------------


def citizen_id_allocate(*, address_code: str, birth_date: dt.date, sex: int) -> str:
    """The next free number for this place, date and sex (GB 11643 sequence parity).

    Serialised per place and date by a transaction-scoped advisory lock, so simultaneous
    registrations never pick the same number; numbers retired by a correction are not reissued.
    Must run inside the transaction that inserts the person.
    """
    prefix = f"{address_code}{birth_date:%Y%m%d}"
    advisory_xact_lock(f"popbase.id:{prefix}")
    parity = 1 if sex == 1 else 0
    candidates = [build_citizen_id(address_code, birth_date, s) for s in range(parity, 1000, 2)]
    # Most places and dates hold a few numbers: probe the unique index a small batch at a time.
    for start in range(0, len(candidates), 16):
        batch = candidates[start : start + 16]
        taken = set(
            Person.objects.filter(citizen_id__in=batch).values_list("citizen_id", flat=True)
        )
        taken |= set(
            CitizenIdCorrection.objects.filter(old_citizen_id__in=batch).values_list(
                "old_citizen_id", flat=True
            )
        )
        free = [c for c in batch if c not in taken]
        if free:
            return free[0]
    raise Conflict(
        "该地址码和出生日期的顺序码已用尽",
        "no sequence number left for this place and date",
        code="sequence_exhausted",
    )


# -- events ---------------------------------------------------------------------------------


@transaction.atomic
def birth_register(
    *,
    household: Household,
    name: str,
    sex: int,
    birth_date: dt.date,
    relation: str,
    birth_certificate_number: str,
    actor: Actor,
    ethnicity: str = "01",
    reason: str = "出生登记",
) -> Person:
    """出生登记: a newborn joins a household and gets a new citizen ID."""
    require(sex in (1, 2), "性别应为1（男）或2（女）", "sex must be 1 or 2", "bad_sex")
    check_date(birth_date)
    require(
        bool(birth_certificate_number.strip()),
        "须提供出生医学证明编号",
        "the birth medical certificate number is required",
        "document_required",
    )
    require(bool(name.strip()), "姓名不能为空", "name must not be empty", "invalid_name")
    household = _lock_household(household)
    actor_require_within(actor, household)
    require(
        relation not in HEAD_RELATIONS
        or not Membership.objects.filter(household=household, end_date__isnull=True).exists(),
        f"户{household.number}已有成员，新生儿与户主关系不能为户主或本人",
        "a newborn cannot head (or be 本人 of) a household that has members",
        "bad_relation",
    )
    number = citizen_id_allocate(
        address_code=household.region.code[:6], birth_date=birth_date, sex=sex
    )
    with history_context(actor=actor, reason=reason):
        person = Person.objects.create(
            citizen_id=number,
            name=name.strip(),
            sex=sex,
            birth_date=birth_date,
            ethnicity=ethnicity,
            hukou_region=household.region,
            residence_region=household.region,
        )
        _join(person, household, relation, birth_date)
        _event(
            EventKind.BIRTH,
            person,
            actor,
            reason,
            to_household=household,
            effective_date=birth_date,
            document_type="出生医学证明",
            document_number=birth_certificate_number.strip(),
        )
    return person


@transaction.atomic
def death_cancel(
    *,
    person: Person,
    death_date: dt.date,
    document_number: str,
    actor: Actor,
    reason: str = "死亡注销",
) -> Person:
    """死亡注销: the person is recorded deceased and leaves their household."""
    person = _lock_person(person)
    actor_require_within(actor, person)
    check_date(death_date, not_before=person.birth_date)
    require(
        bool(document_number.strip()),
        "须提供死亡医学证明或殡葬证明编号",
        "a death certificate number is required",
        "document_required",
    )
    membership = _open_membership(person)
    if membership is not None:
        check_date(death_date, not_before=membership.start_date)
    with history_context(actor=actor, reason=reason):
        if membership is not None:
            _close(membership, death_date)
        person.status = PersonStatus.DECEASED
        person.save(update_fields=["status", "updated_at"])
        _event(
            EventKind.DEATH,
            person,
            actor,
            reason,
            from_household=membership.household if membership else None,
            effective_date=death_date,
            document_type="死亡医学证明",
            document_number=document_number.strip(),
            details={"head_vacated": bool(membership and membership.relation in HEAD_RELATIONS)},
        )
    return person
