"""Household registration events (户籍登记事项). Every write goes through here.

Each event is one transaction: lock the person (and the households it touches), check the
guards, change the memberships, keep ``Person.hukou_region`` current, and append a
``RegistrationEvent``. Two officers acting on the same person at once: the second waits for the
first's lock, then fails its guard with a clear error instead of acting on stale data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from population.actors import officer_or_none
from population.clock import today
from population.codes import ETHNICITIES, Relation
from population.errors import Conflict, DomainError, check_date, require, require_citizen_id
from population.identity import (
    build_citizen_id,
    mask_citizen_id,
)
from population.jurisdiction import actor_require_within
from population.locks import advisory_xact_lock
from population.models import CitizenIdCorrection, Person, PersonStatus, Region, RegionLevel
from population.services import (
    change_record,
    history_context,
    person_correct_citizen_id,
    person_update,
)
from registry.locks import lock_persons_then_households
from registry.models import (
    IDENTITY_FIELDS,
    Correction,
    CorrectionField,
    CorrectionStatus,
    EventKind,
    Household,
    HouseholdKind,
    Membership,
    RegistrationEvent,
)

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
        locked = locked_households.get(household.pk)
        if locked is None:
            raise Household.DoesNotExist(f"household {household.pk} does not exist")
        if locked.closed_on is not None:
            raise Conflict(
                f"户{locked.number}已销户",
                f"household {locked.number} is closed",
                code="household_closed",
            )
        out_households.append(locked)
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


def _expect_in(membership: Membership | None, household: Household | None) -> None:
    """The officer acted on what they saw: the person must still be in that household."""
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


def _event(kind: str, person: Person, actor: Any, reason: str, **fields: Any) -> RegistrationEvent:
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
    actor: Any,
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
    actor: Any,
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
    actor: Any,
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
    membership = _open_membership(person)
    _expect_in(membership, from_household)
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
    actor: Any,
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


def _move(
    kind: str,
    *,
    person: Person,
    from_household: Household,
    to_household: Household,
    relation: str,
    on: dt.date,
    actor: Any,
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
    membership = _open_membership(person)
    _expect_in(membership, from_household)
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


@transaction.atomic
def move_within_city(
    *,
    person: Person,
    from_household: Household,
    to_household: Household,
    relation: str,
    on: dt.date,
    actor: Any,
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
    actor: Any,
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
    actor: Any,
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


@transaction.atomic
def head_change(
    *,
    household: Household,
    new_head: Person,
    former_head_relation: str,
    actor: Any,
    on: dt.date | None = None,
    reason: str = "变更户主",
) -> Household:
    """变更户主: a member becomes head; the former head (if any) takes the given relation."""
    on = on or today()
    check_date(on)
    _check_relation(former_head_relation)
    (new_head,), (household,) = _lock([new_head], [household])  # persons, then households
    actor_require_within(actor, household)
    require(
        household.kind == HouseholdKind.FAMILY,
        "集体户不设户主",
        "collective households have no head",
        "bad_household_kind",
    )
    members = {
        m.person_id: m
        for m in Membership.objects.select_for_update().filter(
            household=household, end_date__isnull=True
        )
    }
    require(
        new_head.pk in members,
        "新户主不是本户成员",
        "the new head is not a member of this household",
        "not_a_member",
    )
    require(
        former_head_relation not in HEAD_RELATIONS,
        "原户主须改为其他关系",
        "the former head needs another relation",
        "bad_relation",
    )
    target = members[new_head.pk]
    require(
        target.relation not in HEAD_RELATIONS,
        "此人已是户主",
        "this person is already the head",
        "no_change",
    )
    former = next((m for m in members.values() if m.relation in HEAD_RELATIONS), None)
    with history_context(actor=actor, reason=reason):
        if former is not None:
            former.relation = former_head_relation
            former.save(update_fields=["relation"])
        target.relation = Relation.HEAD
        target.save(update_fields=["relation"])
        _event(
            EventKind.HEAD_CHANGE,
            new_head,
            actor,
            reason,
            from_household=household,
            to_household=household,
            effective_date=on,
            details={"former_head_id": former.person_id if former else None},
        )
    return household


def _new_household_number(region: Region) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('registry_household', 'id'))")
        pk = cursor.fetchone()[0]
    return pk, f"{region.code[:6]}{pk:09d}"


@transaction.atomic
def household_create(
    *, kind: str, address: str, region: Region, actor: Any, reason: str = "立户"
) -> Household:
    """A new household at an address in a village-level unit; the number is allocated."""
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    require(
        kind in HouseholdKind.values,
        f"户别{kind!r}无效",
        f"unknown household kind {kind!r}",
        "bad_household_kind",
    )
    require(
        region.level == RegionLevel.VILLAGE,
        "户应登记在村（居）级区划",
        "a household belongs to a village-level unit",
        "bad_region",
    )
    require(bool(address.strip()), "须填写住址", "the address is required", "address_required")
    actor_require_within(actor, regions=[region])
    pk, number = _new_household_number(region)
    with history_context(actor=actor, reason=reason):
        return Household.objects.create(
            pk=pk, number=number, kind=kind, address=address.strip(), region=region
        )


@transaction.atomic
def household_split(
    *,
    household: Household,
    members: list[tuple[Person, str]],
    address: str,
    region: Region | None = None,
    on: dt.date | None = None,
    actor: Any,
    reason: str = "分户",
) -> Household:
    """分户: some members leave to form a new family household; the first listed is its head.

    ``members`` pairs each leaving person with their relation to the new head.
    """
    on = on or today()
    require(bool(members), "须指定分出的成员", "name the members who leave", "members_required")
    require(
        members[0][1] in HEAD_RELATIONS and all(r not in HEAD_RELATIONS for _, r in members[1:]),
        "分出的第一人为新户户主，且只有一位户主",
        "the first member listed heads the new household, and only they",
        "bad_relation",
    )
    require(
        len({p.pk for p, _ in members}) == len(members),
        "成员重复",
        "a member is listed twice",
        "duplicate_member",
    )
    for relation in {r for _, r in members}:
        _check_relation(relation)
    _, (household,) = _lock([p for p, _ in members], [household])  # persons, then households
    actor_require_within(actor, household)
    staying = Membership.objects.filter(household=household, end_date__isnull=True).exclude(
        person_id__in=[p.pk for p, _ in members]
    )
    require(
        staying.exists(),
        "分户后原户须留有成员",
        "someone must stay in the original household",
        "nobody_left",
    )
    require(
        not staying.exclude(relation__in=HEAD_RELATIONS).exists()
        or staying.filter(relation__in=HEAD_RELATIONS).exists(),
        "原户主随迁时须先变更户主",
        "change the head first when the head leaves",
        "head_must_change",
    )
    new = household_create(
        kind=HouseholdKind.FAMILY,
        address=address,
        region=region or household.region,
        actor=actor,
        reason=reason,
    )
    for person, relation in members:
        _move(
            EventKind.SPLIT,
            person=person,
            from_household=household,
            to_household=new,
            relation=relation,
            on=on,
            actor=actor,
            reason=reason,
        )
    return new


@transaction.atomic
def household_close(
    *, household: Household, on: dt.date | None = None, actor: Any, reason: str
) -> Household:
    """Close a household that no longer has members (the database refuses otherwise)."""
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    on = on or today()
    household = _lock_household(household)
    actor_require_within(actor, household)
    require(
        not Membership.objects.filter(household=household, end_date__isnull=True).exists(),
        "户内仍有成员，不能销户",
        "the household still has members",
        "household_not_empty",
    )
    last_left = (
        Membership.objects.filter(household=household)
        .order_by("-end_date")
        .values_list("end_date", flat=True)
        .first()
    )
    check_date(on, not_before=last_left)
    with history_context(actor=actor, reason=reason):
        household.closed_on = on
        household.save(update_fields=["closed_on"])
    return household


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
    actor: Any,
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


def _lock_pending(correction: Correction, actor: Any) -> Correction:
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
def correction_approve(*, correction: Correction, actor: Any, note: str = "") -> Correction:
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
def correction_refuse(*, correction: Correction, actor: Any, note: str) -> Correction:
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
    actor: Any,
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
    membership = _open_membership(person)
    _expect_in(membership, household)
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
