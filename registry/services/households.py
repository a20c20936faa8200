"""Households: 变更户主, 立户, 分户 and 销户."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from population.actors import Actor
from population.clock import today
from population.codes import Relation
from population.errors import check_date, require
from population.jurisdiction import actor_require_within
from population.models import Person, Region, RegionLevel
from population.services import history_context
from registry.models import EventKind, Household, HouseholdKind, Membership
from registry.services._common import (
    HEAD_RELATIONS,
    _check_relation,
    _event,
    _lock,
    _lock_household,
    _move,
)


@transaction.atomic
def head_change(
    *,
    household: Household,
    new_head: Person,
    former_head_relation: str,
    actor: Actor,
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
    *, kind: str, address: str, region: Region, actor: Actor, reason: str = "立户"
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
    actor: Actor,
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
    *, household: Household, on: dt.date | None = None, actor: Actor, reason: str
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
