"""Two supervisors approving at once against the real PostgreSQL: exactly one succeeds."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from population import roles
from population import services as population_services
from population.codes import Relation
from population.errors import DomainError
from population.models import OfficerRegion, Person, PersonStatus, Region
from registry import services as registry
from registry.models import Membership
from registry.quality import services as quality_services
from registry.quality.models import MergeStatus, PersonMerge
from registry.quality.services import person_merge_approve, person_merge_propose
from tests.registry.quality_factories import next_id, registered
from tests.registry.test_concurrency import backend_pid, run_at_once, wait_until_blocked

# Threads open their own connections, so the data they see must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def staff(django_user_model, name: str, role: str, area: Region):
    """A user in ``role`` working in ``area``; supervisors hold the approval permission.

    A transactional test may start from a flushed database (after another transactional test),
    so the group and the permission are (re)created here, idempotently.
    """
    group, _ = Group.objects.get_or_create(name=role)
    if role == roles.SUPERVISOR:
        permission, _ = Permission.objects.get_or_create(
            codename="approve_personmerge",
            content_type=ContentType.objects.get_for_model(PersonMerge),
            defaults={"name": "可审批重复人员合并"},
        )
        group.permissions.add(permission)
    u = django_user_model.objects.create_user(name)
    u.groups.add(group)
    OfficerRegion.objects.create(user=u, region=area)
    return u


def plain(name: str) -> Person:
    return population_services.person_create(
        citizen_id=next_id(), name=name, actor=None, reason="测试"
    )


def test_two_supervisors_approving_one_proposal_at_once_one_wins(village, django_user_model):
    city = village.parent.parent.parent  # the survivors have no region: city-wide staff
    officer = staff(django_user_model, "officer", roles.REGISTRATION_OFFICER, city)
    sups = [staff(django_user_model, f"sup{i}", roles.SUPERVISOR, city) for i in range(2)]
    duplicate = registered(village, "张三")
    survivor = plain("张三")
    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")

    def approve(i: int):
        actor = django_user_model.objects.get(pk=sups[i].pk)
        return person_merge_approve(merge=PersonMerge.objects.get(pk=merge.pk), actor=actor)

    results = run_at_once(2, approve)

    wins = [r for r in results if isinstance(r, PersonMerge)]
    losses = [r for r in results if isinstance(r, DomainError)]
    assert (len(wins), len(losses)) == (1, 1)
    assert losses[0].code == "already_decided"
    assert PersonMerge.objects.get().status == MergeStatus.APPROVED
    assert Person.objects.get(pk=duplicate.pk).status == PersonStatus.CANCELLED
    assert survivor.memberships.filter(end_date__isnull=True).count() == 1


def test_two_proposals_for_one_duplicate_approved_at_once_one_wins(village, django_user_model):
    city = village.parent.parent.parent  # the survivors have no region: city-wide staff
    officer = staff(django_user_model, "officer", roles.REGISTRATION_OFFICER, city)
    sups = [staff(django_user_model, f"sup{i}", roles.SUPERVISOR, city) for i in range(2)]
    duplicate = registered(village, "李四")
    survivors = [plain("李四"), plain("李四")]
    merges = [
        person_merge_propose(survivor=s, duplicate=duplicate, actor=officer, reason="重")
        for s in survivors
    ]

    def approve(i: int):
        actor = django_user_model.objects.get(pk=sups[i].pk)
        return person_merge_approve(merge=merges[i], actor=actor)

    results = run_at_once(2, approve)

    wins = [r for r in results if isinstance(r, PersonMerge)]
    losses = [r for r in results if isinstance(r, DomainError)]
    assert (len(wins), len(losses)) == (1, 1)
    assert losses[0].code == "already_merged"
    assert PersonMerge.objects.filter(status=MergeStatus.APPROVED).count() == 1
    open_holders = [s.pk for s in survivors if s.memberships.filter(end_date__isnull=True).exists()]
    assert open_holders == [wins[0].survivor_id]


def test_a_merge_approval_and_a_move_between_the_two_households_both_finish(
    village, django_user_model, monkeypatch
):
    """The approval locks both persons, then both households in id order, then the memberships;
    a move locks its person, then both households in id order. Before, the approval locked each
    household with that person's membership, the duplicate's first: holding the later household
    it waited for the earlier one, which a move between them held while waiting for the later
    one, a deadlock."""
    city = village.parent.parent.parent  # the survivors have no region: city-wide staff
    officer = staff(django_user_model, "officer", roles.REGISTRATION_OFFICER, city)
    sup = staff(django_user_model, "sup", roles.SUPERVISOR, city)
    survivor = registered(village, "王二")
    earlier = survivor.memberships.get().household
    mover = registered(village, "王小", into=earlier, relation=Relation.SON)
    head = registered(village, "王大")
    later = head.memberships.get().household
    duplicate = registered(village, "王二", into=later, relation=Relation.SON)
    assert earlier.pk < later.pk
    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")

    move_pid: list[int] = []
    pid_known, duplicate_looked_up = threading.Event(), threading.Event()
    move_waited: list[bool] = []
    looked_up: list[int] = []
    open_membership = quality_services._open_membership

    def look_up_then_let_the_move_in(person):
        """After the approval has taken the duplicate's membership (and, before the fix, its
        household): start the move and let it run into the approval's locks."""
        found = open_membership(person)
        looked_up.append(person.pk)
        if len(looked_up) == 1:
            assert pid_known.wait(30)
            duplicate_looked_up.set()
            move_waited.append(wait_until_blocked(move_pid[0]))
        return found

    monkeypatch.setattr(quality_services, "_open_membership", look_up_then_let_the_move_in)

    def approve() -> PersonMerge:
        actor = django_user_model.objects.get(pk=sup.pk)
        return person_merge_approve(merge=PersonMerge.objects.get(pk=merge.pk), actor=actor)

    def move() -> Membership:
        move_pid.append(backend_pid())
        pid_known.set()
        assert duplicate_looked_up.wait(30)
        return registry.move_within_city(
            person=mover,
            from_household=earlier,
            to_household=later,
            relation=Relation.GRANDSON,
            on=dt.date(2024, 6, 1),
            actor=django_user_model.objects.get(pk=officer.pk),
        )

    approved, moved = run_at_once(2, lambda i: (approve, move)[i]())

    assert isinstance(approved, PersonMerge), approved
    assert isinstance(moved, Membership), moved
    assert looked_up[0] == duplicate.pk and move_waited == [True]
    assert (approved.status, approved.details["open_membership"]) == (
        MergeStatus.APPROVED,
        "closed",
    )
    assert Person.objects.get(pk=duplicate.pk).status == PersonStatus.CANCELLED
    open_rows = Membership.objects.filter(end_date__isnull=True)
    assert sorted(open_rows.values_list("household_id", "person_id", "relation")) == sorted(
        [
            (earlier.pk, survivor.pk, Relation.HEAD),
            (later.pk, head.pk, Relation.HEAD),
            (later.pk, mover.pk, Relation.GRANDSON),
        ]
    )
