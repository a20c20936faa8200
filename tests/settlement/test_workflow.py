"""The settlement workflow: allowed transitions, separation of duties, completion all-or-none."""

from __future__ import annotations

import datetime as dt

import pgtrigger
import pytest
from django.db import IntegrityError, transaction

from population.errors import DomainError
from population.identity import build_citizen_id
from population.models import OfficerRegion, Person
from registry import services as registry
from registry.models import HouseholdKind, Membership, RegistrationEvent
from residence_permit.models import PermitStatus
from settlement import selectors, services
from settlement.models import TRANSITIONS, Application, ApplicationTransition, Status
from settlement.workdays import add_working_days, is_working_day

from .conftest import ON

pytestmark = pytest.mark.django_db

# 清远 四（五）: a registered home of the applicant's own in 清新区太平镇 (其他建制镇)
PROPERTY = {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
HOME = {"residence_region_code": "441803104", "properties": [PROPERTY]}
SPOUSE_ID = build_citizen_id("441802", dt.date(1991, 5, 5), 22)
CHILD_ID = build_citizen_id("441802", dt.date(2015, 6, 1), 31)


def _create(qy_current, citizen_id, *, evidence=HOME, members=None, name="李四"):
    return services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=citizen_id,
        name=name,
        evidence=evidence,
        members=members
        if members is not None
        else [
            {"citizen_id": SPOUSE_ID, "name": "王芳", "kind": "spouse", "relation": "10"},
            {"citizen_id": CHILD_ID, "name": "李小", "kind": "unmarried_child", "relation": "20"},
        ],
        actor=None,
    )


def _to_review(app, officers):
    app = services.application_submit(application=app, actor=None, on=ON)
    app = services.application_accept(application=app, actor=officers["officer"], on=ON)
    return services.application_review_start(application=app, actor=officers["officer"], on=ON)


def _to_permit(app, officers, household):
    app = _to_review(app, officers)
    app = services.application_approve(application=app, actor=officers["chief"], on=ON)
    return services.application_issue_permit(
        application=app, household=household, actor=officers["chief"], on=ON
    )


def test_the_happy_path_settles_applicant_and_members_and_cancels_the_permit(
    qy_current, officers, family_household, permit_holder
):
    permit = permit_holder()
    applicant = permit.person
    app = _create(qy_current, applicant.citizen_id)
    assert app.status == Status.DRAFT and app.rule_set == qy_current
    app = _to_permit(app, officers, family_household)
    assert app.permit_number == "准迁4418002024000001"
    assert app.permit_valid_until == ON + dt.timedelta(days=30)
    assert app.eligibility["status"] == "met"
    app = services.application_complete(
        application=app, actor=officers["officer"], on=dt.date(2024, 3, 8)
    )
    assert app.status == Status.COMPLETED and app.completed_on == dt.date(2024, 3, 8)
    members = Membership.objects.filter(household=family_household, end_date__isnull=True)
    assert sorted(members.values_list("person__citizen_id", "relation")) == sorted(
        [(applicant.citizen_id, "02"), (SPOUSE_ID, "10"), (CHILD_ID, "20")]
    )
    assert RegistrationEvent.objects.filter(document_number=app.permit_number).count() == 3
    permit.refresh_from_db()
    assert permit.status == PermitStatus.CANCELLED
    # three persons settled through one application of the home-purchase channel
    assert selectors.settled_counts(
        city_code="441800", start=dt.date(2024, 3, 8), end=dt.date(2024, 3, 8)
    ) == {"home_purchase": 3}
    assert (
        selectors.settled_counts(
            city_code="441800", start=dt.date(2024, 3, 9), end=dt.date(2024, 12, 31)
        )
        == {}
    )
    assert [
        (t.from_status, t.to_status, t.officer and t.officer.username)
        for t in app.transitions.order_by("pk")
    ] == [
        ("draft", "submitted", None),
        ("submitted", "accepted", "officer"),
        ("accepted", "under_review", "officer"),
        ("under_review", "approved", "chief"),
        ("approved", "permit_issued", "chief"),
        ("permit_issued", "completed", "officer"),
    ]


def test_a_member_already_registered_elsewhere_leaves_everything_as_it_was(
    qy_current, officers, family_household, permit_holder, village
):
    permit = permit_holder()
    # The spouse already has a hukou in another household of the city.
    other = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路20号", region=village, actor=None
    )
    registry.move_in(
        citizen_id=SPOUSE_ID,
        name="王芳",
        household=other,
        relation="02",
        transfer_permit_number="Q-1",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    app = _to_permit(_create(qy_current, permit.person.citizen_id), officers, family_household)
    counts = (
        Person.objects.count(),
        Membership.objects.count(),
        RegistrationEvent.objects.count(),
        ApplicationTransition.objects.count(),
    )
    with pytest.raises(DomainError) as exc:
        services.application_complete(application=app, actor=officers["officer"], on=ON)
    assert exc.value.code == "already_registered"
    app.refresh_from_db()
    permit.refresh_from_db()
    assert app.status == Status.PERMIT_ISSUED and app.person_id is None
    assert permit.status == PermitStatus.ACTIVE
    assert not Membership.objects.filter(household=family_household).exists()
    assert counts == (
        Person.objects.count(),
        Membership.objects.count(),
        RegistrationEvent.objects.count(),
        ApplicationTransition.objects.count(),
    )


def test_the_acceptor_cannot_approve_in_the_service_nor_in_the_database(
    qy_current, officers, family_household
):
    from django.contrib.auth.models import Group

    officers["officer"].groups.add(Group.objects.get(name="户籍主管"))
    acceptor = type(officers["officer"]).objects.get(pk=officers["officer"].pk)
    app = _to_review(
        _create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3)), officers
    )
    with pytest.raises(DomainError) as exc:
        services.application_approve(application=app, actor=acceptor, on=ON)
    assert exc.value.code == "acceptor_cannot_approve"
    app.refresh_from_db()
    assert app.status == Status.UNDER_REVIEW and app.approved_by_id is None
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.filter(pk=app.pk).update(approved_by=acceptor)


def test_an_officer_without_the_decide_permission_cannot_approve(qy_current, officers):
    app = _to_review(
        _create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3)), officers
    )
    other = type(officers["officer"]).objects.create_user("clerk2", is_staff=True)
    area = officers["officer"].jurisdiction_regions.get().region
    OfficerRegion.objects.create(user=other, region=area)
    with pytest.raises(DomainError) as exc:
        services.application_approve(application=app, actor=other, on=ON)
    assert exc.value.code == "forbidden"


def test_unmet_or_missing_conditions_block_approval_with_the_reasons(qy_current, officers):
    app = _create(
        qy_current,
        build_citizen_id("441802", dt.date(1990, 1, 1), 3),
        evidence={"properties": [PROPERTY | {"use": "shop"}]},
    )
    app = _to_review(app, officers)
    assert app.eligibility["status"] == "unmet"
    with pytest.raises(DomainError) as exc:
        services.application_approve(application=app, actor=officers["chief"], on=ON)
    assert exc.value.code == "not_eligible"
    assert (
        "本人购买的商品住房" in exc.value.message_zh
        and "residence_zone" not in exc.value.message_zh  # cannot change the verdict
    )
    app.refresh_from_db()
    assert app.status == Status.UNDER_REVIEW


def test_returned_lists_what_is_missing_and_resubmission_reevaluates(qy_current, officers):
    app = _create(
        qy_current,
        build_citizen_id("441802", dt.date(1990, 1, 1), 3),
        evidence={"properties": [PROPERTY]},
    )
    app = _to_review(app, officers)
    assert app.eligibility["missing"] == ["residence_zone"]
    assert app.eligibility["ask"] == ["residence_region_code"]
    with pytest.raises(DomainError) as exc:
        services.application_return(application=app, actor=officers["officer"], missing=[" ", ""])
    assert exc.value.code == "missing_required"
    app = services.application_return(
        application=app, actor=officers["officer"], missing=["房屋产权证"], on=ON
    )
    assert app.status == Status.RETURNED and app.missing_items == ["房屋产权证"]
    assert app.transitions.last().details == {"missing": ["房屋产权证"]}
    app = services.application_submit(application=app, actor=None, on=ON, evidence=HOME)
    assert app.status == Status.SUBMITTED and app.eligibility["status"] == "met"
    assert app.missing_items == []


def test_rejection_needs_a_reason(qy_current, officers):
    app = services.application_submit(
        application=_create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3)),
        actor=None,
        on=ON,
    )
    with pytest.raises(DomainError) as exc:
        services.application_reject(application=app, actor=officers["officer"], reason="  ")
    assert exc.value.code == "reason_required"
    app = services.application_reject(application=app, actor=officers["officer"], reason="材料虚假")
    assert app.status == Status.REJECTED and app.rejection_reason == "材料虚假"
    with pytest.raises(IntegrityError), transaction.atomic():
        Application.objects.filter(pk=app.pk).update(rejection_reason="")


ALL = [s.value for s in Status]
ALLOWED = {(str(a), str(b)) for a, b in TRANSITIONS}


@pytest.mark.parametrize(("source", "target"), [(a, b) for a in ALL for b in ALL if a != b])
def test_the_database_allows_exactly_the_listed_transitions(qy_current, source, target):
    app = _create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3), members=[])
    Application.objects.filter(pk=app.pk).update(
        permit_number=f"P{app.pk}", permit_valid_until=ON, rejection_reason="x"
    )
    with pgtrigger.ignore("settlement.Application:status_fsm"):
        Application.objects.filter(pk=app.pk).update(status=source)
    if (source, target) in ALLOWED:
        with transaction.atomic():
            Application.objects.filter(pk=app.pk).update(status=target)
        assert Application.objects.get(pk=app.pk).status == target
    else:
        with pytest.raises(Exception, match="status"), transaction.atomic():
            Application.objects.filter(pk=app.pk).update(status=target)
        assert Application.objects.get(pk=app.pk).status == source


def test_a_step_out_of_order_is_refused_and_changes_nothing(qy_current, officers):
    app = _create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3))
    for call in (
        lambda: services.application_accept(application=app, actor=officers["officer"]),
        lambda: services.application_approve(application=app, actor=officers["chief"]),
        lambda: services.application_complete(application=app, actor=officers["chief"]),
    ):
        with pytest.raises(DomainError) as exc:
            call()
        assert exc.value.code == "bad_transition"
    app.refresh_from_db()
    assert app.status == Status.DRAFT and app.accepted_by_id is None
    assert not app.transitions.exists()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"channel": "points"}, "unknown_channel"),
        ({"target": "public_collective"}, "bad_target"),
        ({"citizen_id": "441802199001010000"}, "invalid_citizen_id"),
        ({"name": " "}, "invalid_name"),
        ({"evidence": {"rents_home": "yes"}}, "bad_facts"),
        ({"evidence": {"owns_residential_home": True}}, "bad_facts"),
        (
            {
                "members": [
                    {"citizen_id": SPOUSE_ID, "name": "王芳", "kind": "cousin", "relation": "10"}
                ]
            },
            "bad_member",
        ),
        (
            {
                "members": [
                    {"citizen_id": SPOUSE_ID, "name": "王芳", "kind": "spouse", "relation": "02"}
                ]
            },
            "bad_relation",
        ),
        (
            {
                "members": [
                    {"citizen_id": SPOUSE_ID, "name": "王芳", "kind": "spouse", "relation": "10"}
                ]
                * 2
            },
            "duplicate_member",
        ),
        ({"on": dt.date(2021, 1, 1)}, "no_rules"),
    ],
)
def test_bad_applications_are_refused(qy_current, kwargs, code):
    args = {
        "city_code": "441800",
        "on": ON,
        "channel": "home_purchase",
        "target": "residence",
        "citizen_id": build_citizen_id("441802", dt.date(1990, 1, 1), 3),
        "name": "李四",
        "evidence": HOME,
        "members": [],
        "actor": None,
    } | kwargs
    with pytest.raises(DomainError) as exc:
        services.application_create(**args)
    assert exc.value.code == code
    assert not Application.objects.exists()


def test_one_open_application_per_person(qy_current):
    cid = build_citizen_id("441802", dt.date(1990, 1, 1), 3)
    second_draft = _create(qy_current, cid)  # drafts are not open; two may exist
    services.application_submit(application=_create(qy_current, cid), actor=None, on=ON)
    # A new application is refused in plain words while one is open ...
    with pytest.raises(DomainError) as exc:
        _create(qy_current, cid)
    assert exc.value.code == "already_open"
    # ... and the database refuses a second open one whatever the path.
    with pytest.raises(IntegrityError):
        services.application_submit(application=second_draft, actor=None, on=ON)


def test_unused_transfer_permits_expire_once(qy_current, officers, family_household):
    app = _to_permit(
        _create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3)),
        officers,
        family_household,
    )
    last_day = app.permit_valid_until
    assert services.permits_expire_due(on=last_day) == 0
    assert services.permits_expire_due(on=last_day + dt.timedelta(days=1)) == 1
    assert services.permits_expire_due(on=last_day + dt.timedelta(days=1)) == 0
    app.refresh_from_db()
    assert app.status == Status.EXPIRED
    with pytest.raises(DomainError):
        services.application_complete(application=app, actor=officers["officer"], on=last_day)


def test_working_days_follow_the_holiday_calendar():
    assert not is_working_day(dt.date(2026, 10, 1))  # 国庆
    assert is_working_day(dt.date(2026, 10, 10))  # 调休上班的周六
    assert not is_working_day(dt.date(2024, 3, 9))  # a plain Saturday
    # 2026-09-30 (Wed) + 2 working days: 1–7 Oct off, 8 Oct (Thu), 9 Oct (Fri)
    assert add_working_days(dt.date(2026, 9, 30), 2) == dt.date(2026, 10, 9)
    assert add_working_days(dt.date(2024, 3, 8), 1) == dt.date(2024, 3, 11)


def test_each_step_gets_a_working_day_deadline_and_the_overdue_list_shows_late_ones(
    qy_current, officers
):
    app = services.application_submit(
        application=_create(qy_current, build_citizen_id("441802", dt.date(1990, 1, 1), 3)),
        actor=None,
        on=ON,
    )
    assert app.step_due == dt.date(2024, 3, 6)  # 2 working days to accept
    assert list(selectors.applications_overdue(on=dt.date(2024, 3, 6))) == []
    assert list(selectors.applications_overdue(on=dt.date(2024, 3, 7))) == [app]
    app = services.application_accept(application=app, actor=officers["officer"], on=ON)
    assert app.step_due == dt.date(2024, 3, 7)
    assert list(selectors.applications_queue(role="acceptor")) == []
    assert list(selectors.applications_queue(role="reviewer")) == [app]


def test_settled_counts_against_targets(officers, family_household):
    progress = selectors.targets_progress(city_code="440200")
    assert progress == [
        {
            "city": "韶关市",
            "version": "2017",
            "channel": None,
            "channel_name": "",
            "zh": "“十三五”期间全市6万左右非户籍人口在城市落户",
            "from": dt.date(2016, 1, 1),
            "to": dt.date(2020, 12, 31),
            "target": 60000,
            "settled": 0,
            "remaining": 60000,
            "share": 0.0,
        }
    ]


def test_a_duplicate_with_an_open_application_cannot_be_merged_away(qy_current, make_person):
    from registry.quality.services import merge_reference_decisions

    assert {"settlement.Application.person", "settlement.ApplicationMember.person"} <= (
        merge_reference_decisions()
    )
    survivor, duplicate = make_person(), make_person()
    app = _create(qy_current, duplicate.citizen_id, members=[])
    services.settlement_merge_guard(survivor=survivor, duplicate=duplicate)  # a draft: fine
    services.application_submit(application=app, actor=None, on=ON)
    with pytest.raises(DomainError) as exc:
        services.settlement_merge_guard(survivor=survivor, duplicate=duplicate)
    assert exc.value.code == "duplicate_has_settlement"


def test_permit_facts_come_from_the_residence_permit_app_and_evidence_fills_the_rest(
    qy_current, permit_holder
):
    from settlement.facts import RecordedEvidence, ResidencePermitFacts, facts_gather

    permit = permit_holder()
    app = _create(qy_current, permit.person.citizen_id, members=[])
    app.evidence = {"holds_residence_permit": False, "points": 90}
    sources = [ResidencePermitFacts(), RecordedEvidence()]
    assert facts_gather(application=app, sources=sources) == {
        "holds_residence_permit": True,  # the department-side source wins over what was typed
        "points": 90,
    }
    stranger = _create(qy_current, build_citizen_id("441802", dt.date(1980, 1, 1), 7), members=[])
    assert ResidencePermitFacts().facts_for(application=stranger) == {}


def test_the_statistics_figure_counts_settled_persons_by_channel_month_and_area(
    qy_current, officers, family_household, permit_holder
):
    from population.statistics.extra import extra_figures

    app = _to_permit(
        _create(qy_current, permit_holder().person.citizen_id), officers, family_household
    )
    services.application_complete(
        application=app, actor=officers["officer"], on=dt.date(2024, 3, 8)
    )

    march, april = dt.date(2024, 3, 31), dt.date(2024, 4, 30)
    assert selectors.settlements_by_channel_in_month("441800000000", march) == {"home_purchase": 3}
    assert selectors.settlements_by_channel_in_month("441800000000", april) == {}
    assert selectors.settlements_by_channel_in_month("530900000000", march) == {}
    shown = {f["name"]: f for f in extra_figures(region_code="441800000000", month=march)}
    assert shown["settlements_by_channel"]["value"] == "购房和自建房入户 3"
