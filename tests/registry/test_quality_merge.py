"""Merging a duplicate person into the survivor, with a supervisor's approval."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db.models import ForeignKey
from django.utils import timezone

from population import roles
from population import services as population_services
from population.codes import Relation
from population.errors import DomainError
from population.models import Person, PersonStatus
from registry.models import EventKind, Membership, RegistrationEvent
from registry.quality.models import IssueKind, MergeStatus, PersonMerge, QualityIssue
from registry.quality.selectors import person_merged_into, person_resolve_by_citizen_id
from registry.quality.services import (
    _reference_name,
    merge_reference_decisions,
    person_merge_approve,
    person_merge_propose,
    person_merge_reject,
    quality_detect,
)
from tests.registry.quality_factories import next_id, registered

pytestmark = pytest.mark.django_db


def user(django_user_model, name: str, role: str, area=None):
    """Staff working city-wide: the persons here have no region, which only staff of a whole
    city or province see."""
    from population.models import OfficerRegion

    u = django_user_model.objects.create_user(name)
    u.groups.add(Group.objects.get(name=role))
    if area is not None:
        OfficerRegion.objects.create(user=u, region=area)
    return django_user_model.objects.get(pk=u.pk)  # fresh permission cache


@pytest.fixture
def officer(django_user_model, city):
    return user(django_user_model, "officer", roles.REGISTRATION_OFFICER, city)


@pytest.fixture
def supervisor(django_user_model, city):
    return user(django_user_model, "supervisor", roles.SUPERVISOR, city)


def plain(name: str) -> Person:
    return population_services.person_create(
        citizen_id=next_id(), name=name, actor=None, reason="测试"
    )


def snapshot() -> tuple:
    """Everything a merge may touch."""
    return (
        list(Person.objects.order_by("id").values_list("id", "status", "hukou_region_id")),
        list(
            Membership.objects.order_by("id").values_list(
                "id", "person_id", "household_id", "relation", "end_date"
            )
        ),
        RegistrationEvent.objects.count(),
        list(PersonMerge.objects.order_by("id").values_list("id", "status", "decided_by_id")),
        list(QualityIssue.objects.order_by("id").values_list("id", "status")),
    )


def test_happy_path_the_survivor_takes_over_the_duplicates_registration(
    village, officer, supervisor
):
    duplicate = registered(village, "张三")
    survivor = plain("张三")
    quality_detect(detectors=["dup_same_name"])
    issue = QualityIssue.objects.get(kind=IssueKind.DUPLICATE_SAME_NAME)
    old_membership = Membership.objects.get(person=duplicate)

    merge = person_merge_propose(
        survivor=survivor, duplicate=duplicate, actor=officer, reason="同一人两个号码", issue=issue
    )
    assert merge.status == MergeStatus.PROPOSED
    merge = person_merge_approve(merge=merge, actor=supervisor, note="核实无误")

    duplicate.refresh_from_db()
    survivor.refresh_from_db()
    assert (merge.status, merge.decided_by_id) == (MergeStatus.APPROVED, supervisor.pk)
    assert (duplicate.status, duplicate.hukou_region_id) == (PersonStatus.CANCELLED, None)
    assert survivor.hukou_region_id == village.pk
    # nothing deleted: the duplicate keeps its row and number; its memberships are the survivor's
    assert Person.objects.filter(pk=duplicate.pk, citizen_id=duplicate.citizen_id).exists()
    assert Membership.objects.filter(person=duplicate).count() == 0
    memberships = list(
        Membership.objects.filter(person=survivor)
        .order_by("id")
        .values_list("id", "household_id", "relation", "end_date")
    )
    today = timezone.localdate()
    assert memberships == [
        (old_membership.pk, old_membership.household_id, Relation.HEAD, today),
        (memberships[1][0], old_membership.household_id, Relation.HEAD, None),
    ]
    # append-only events keep naming the original rows
    events = list(
        RegistrationEvent.objects.filter(kind=EventKind.MERGE)
        .order_by("id")
        .values_list("person_id", "from_household_id", "to_household_id")
    )
    assert events == [
        (duplicate.pk, old_membership.household_id, None),
        (survivor.pk, None, old_membership.household_id),
    ]
    assert RegistrationEvent.objects.filter(person=duplicate, kind=EventKind.MOVE_IN).exists()
    assert merge.details["open_membership"] == "taken_over"
    # the duplicate's number leads to the survivor
    assert person_resolve_by_citizen_id(citizen_id=duplicate.citizen_id) == survivor
    assert person_merged_into(person=duplicate) == survivor
    assert person_merged_into(person=survivor) is None
    # the queue and the history tell
    issue.refresh_from_db()
    assert issue.status == "resolved"
    status_history = [e.status for e in duplicate.events.order_by("pgh_id")]
    assert status_history[-1] == PersonStatus.CANCELLED
    assert duplicate.events.order_by("pgh_id").last().pgh_context.metadata["user"] == supervisor.pk
    assert [e.status for e in merge.events.order_by("pgh_id")] == ["proposed", "approved"]
    # a rerun of the detectors does not find the pair again
    quality_detect(detectors=["dup_same_name"])
    issue.refresh_from_db()
    assert issue.status == "resolved"


def test_survivor_registered_elsewhere_the_duplicates_membership_is_closed(
    village, officer, supervisor
):
    survivor = registered(village, "李四")
    duplicate = registered(village, "李四")
    dup_household = Membership.objects.get(person=duplicate).household_id
    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")
    person_merge_approve(merge=merge, actor=supervisor)

    rows = set(Membership.objects.filter(person=survivor).values_list("household_id", "end_date"))
    survivor_household = Membership.objects.get(person=survivor, end_date__isnull=True)
    assert rows == {
        (survivor_household.household_id, None),
        (dup_household, timezone.localdate()),
    }
    survivor.refresh_from_db()
    assert survivor.hukou_region_id == village.pk
    assert RegistrationEvent.objects.filter(kind=EventKind.MERGE).count() == 1


def test_in_one_household_the_survivor_inherits_the_heads_place(village, officer, supervisor):
    duplicate = registered(village, "王五")
    home = Membership.objects.get(person=duplicate).household
    survivor = registered(village, "王五", relation=Relation.SON, into=home)
    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")
    person_merge_approve(merge=merge, actor=supervisor)

    assert list(
        Membership.objects.filter(household=home, end_date__isnull=True).values_list(
            "person_id", "relation"
        )
    ) == [(survivor.pk, Relation.HEAD)]


def test_every_refusal_says_why_and_changes_nothing(
    village, city, officer, supervisor, django_user_model
):
    other_supervisor = user(django_user_model, "supervisor2", roles.SUPERVISOR, city)
    a, b, c = plain("赵六"), plain("赵六"), plain("赵六")
    head = registered(village, "钱七")
    registered(
        village,
        "钱七之子",
        relation=Relation.SON,
        into=Membership.objects.get(person=head).household,
    )
    elsewhere = registered(village, "钱七")
    dead = plain("孙八")
    Person.objects.filter(pk=dead.pk).update(status=PersonStatus.DECEASED)

    mine = person_merge_propose(survivor=a, duplicate=b, actor=supervisor, reason="重")
    heads = person_merge_propose(survivor=elsewhere, duplicate=head, actor=officer, reason="重")
    before = snapshot()

    cases = [
        (
            lambda: person_merge_propose(survivor=a, duplicate=a, actor=officer, reason="重"),
            "same_person",
            "同一人",
        ),
        (
            lambda: person_merge_propose(survivor=dead, duplicate=c, actor=officer, reason="重"),
            "survivor_inactive",
            "保留人员",
        ),
        (
            lambda: person_merge_propose(survivor=a, duplicate=b, actor=officer, reason=" "),
            "reason_required",
            "理由",
        ),
        (
            lambda: person_merge_propose(survivor=a, duplicate=b, actor=officer, reason="重"),
            "already_proposed",
            "审批中",
        ),
        (lambda: person_merge_approve(merge=mine, actor=supervisor), "own_proposal", "本人"),
        (lambda: person_merge_approve(merge=mine, actor=officer), "not_permitted", "户籍主管"),
        (
            lambda: person_merge_reject(merge=mine, actor=other_supervisor, note=""),
            "note_required",
            "意见",
        ),
        (lambda: person_merge_approve(merge=heads, actor=supervisor), "head_must_change", "户主"),
    ]
    for call, code, zh in cases:
        with pytest.raises(DomainError) as err:
            call()
        assert (err.value.code, zh in err.value.message_zh) == (code, True)
        assert err.value.message_en
        assert snapshot() == before

    person_merge_approve(merge=mine, actor=other_supervisor)
    after_first = snapshot()
    cases = [
        (
            lambda: person_merge_approve(merge=mine, actor=other_supervisor),
            "already_decided",
            "已批准",
        ),
        (
            lambda: person_merge_propose(survivor=c, duplicate=b, actor=officer, reason="重"),
            "already_merged",
            "已注销",
        ),
        (
            lambda: person_merge_propose(survivor=b, duplicate=c, actor=officer, reason="重"),
            "survivor_inactive",
            "保留人员",
        ),
    ]
    for call, code, zh in cases:
        with pytest.raises(DomainError) as err:
            call()
        assert (err.value.code, zh in err.value.message_zh) == (code, True)
        assert snapshot() == after_first


def test_a_pending_proposal_fails_once_its_duplicate_was_merged_by_another(
    village, officer, supervisor
):
    a, b, c = plain("周九"), plain("周九"), plain("周九")
    first = person_merge_propose(survivor=a, duplicate=c, actor=officer, reason="重")
    second = person_merge_propose(survivor=b, duplicate=c, actor=officer, reason="重")
    person_merge_approve(merge=first, actor=supervisor)
    before = snapshot()
    with pytest.raises(DomainError) as err:
        person_merge_approve(merge=second, actor=supervisor)
    assert err.value.code == "already_merged"
    assert snapshot() == before


def test_rejection_changes_only_the_proposal(village, officer, supervisor):
    a, b = plain("吴十"), plain("吴十")
    merge = person_merge_propose(survivor=a, duplicate=b, actor=officer, reason="重")
    persons = list(Person.objects.order_by("id").values_list("id", "status"))
    person_merge_reject(merge=merge, actor=supervisor, note="不是同一人")
    merge.refresh_from_db()
    assert (merge.status, merge.decision_note) == (MergeStatus.REJECTED, "不是同一人")
    assert list(Person.objects.order_by("id").values_list("id", "status")) == persons


def test_every_reference_to_a_person_is_either_moved_or_deliberately_kept():
    """A new foreign key to Person must be put in one of the two lists (or this fails)."""
    import pghistory.models

    references = {
        _reference_name(f.remote_field)
        for f in Person._meta.get_fields(include_hidden=True)
        if f.is_relation
        and f.auto_created
        and isinstance(f.remote_field, ForeignKey)
        # history rows (pghistory events) copy the row as it was: never rewritten
        and not issubclass(f.related_model, pghistory.models.Event)
    }
    assert references == merge_reference_decisions()


def test_approving_a_survivor_that_was_cancelled_since_the_proposal_is_refused(
    village, officer, supervisor
):
    a, b, c = plain("郑一"), plain("郑一"), plain("郑一")
    pending = person_merge_propose(survivor=a, duplicate=b, actor=officer, reason="重")
    # meanwhile the survivor itself is merged away into c
    person_merge_approve(
        merge=person_merge_propose(survivor=c, duplicate=a, actor=officer, reason="重"),
        actor=supervisor,
    )
    before = snapshot()
    with pytest.raises(DomainError) as err:
        person_merge_approve(merge=pending, actor=supervisor)
    assert err.value.code == "survivor_inactive"
    assert "survivor" in err.value.message_en
    assert snapshot() == before


def test_an_approved_merge_tells_the_change_feed_the_duplicate_is_cancelled(
    village, officer, supervisor
):
    from population.models import ChangeEvent

    survivor, duplicate = plain("冯二"), plain("冯二")
    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")
    person_merge_approve(merge=merge, actor=supervisor)

    assert list(ChangeEvent.objects.filter(person=duplicate).values_list("kind", "source")) == [
        ("merge", f"registry.merge.{merge.pk}")
    ]


def test_department_facts_and_follow_ups_of_the_duplicate_move_to_the_survivor(
    village, officer, supervisor
):
    from population.sync import services as sync_services
    from population.sync.models import Fact, FollowUp
    from population.sync.samples import SamplePerson, sample_feed

    survivor, duplicate = plain("卫三"), plain("卫三")
    about = [
        SamplePerson(duplicate.citizen_id, "卫三", duplicate.sex, duplicate.birth_date, village.pk)
    ]
    for kind, department in (("employment", "hrss"), ("death", "health")):
        feed = sample_feed(kind=kind, persons=about, rows=1)
        batch = sync_services.batch_receive(
            department=department,
            content=feed.content,
            filename=f"{kind}.csv",
            fmt="csv",
            source="api",
            enqueue=False,
        )
        sync_services.batch_process(batch_id=batch.pk)
    facts = set(Fact.objects.filter(person=duplicate).values_list("pk", flat=True))
    follow_ups = set(FollowUp.objects.filter(person=duplicate).values_list("pk", flat=True))
    assert facts and follow_ups  # the feeds reached the duplicate's record

    merge = person_merge_propose(survivor=survivor, duplicate=duplicate, actor=officer, reason="重")
    person_merge_approve(merge=merge, actor=supervisor)

    assert set(Fact.objects.filter(person=survivor).values_list("pk", flat=True)) == facts
    assert set(FollowUp.objects.filter(person=survivor).values_list("pk", flat=True)) == follow_ups
    assert not Fact.objects.filter(person=duplicate).exists()
    merge.refresh_from_db()
    assert merge.details["references_moved"]["sync.Fact.person"] == len(facts)
