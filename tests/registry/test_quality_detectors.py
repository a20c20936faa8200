"""Detectors of suspected problems: positive and negative cases, idempotency, reopening."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from population import services as population_services
from population.codes import Relation
from population.errors import DomainError
from population.identity import build_citizen_id
from population.models import Person, PersonStatus, Region, RegionLevel
from registry import services
from registry.models import HouseholdKind, Membership
from registry.quality.models import IssueKind, IssueStatus, QualityIssue, QualityRun, RunStatus
from registry.quality.names import build_name_maps, homophone_key, normalise_name
from registry.quality.services import quality_detect, quality_issue_decide
from tests.registry.quality_factories import (
    BORN,
    household,
    next_id,
    raw_person,
    registered,
    wrong_check_digit_id,
)

pytestmark = pytest.mark.django_db


def issues(kind: str) -> list[tuple[list[int], str]]:
    return [
        (sorted(i.person_ids), i.status)
        for i in QualityIssue.objects.filter(kind=kind).order_by("id")
    ]


def person(name: str, *, male: bool = True, born: dt.date = BORN, **kw) -> Person:
    return population_services.person_create(
        citizen_id=next_id(male=male, born=born), name=name, actor=None, reason="测试", **kw
    )


# -- names ----------------------------------------------------------------------------------


def test_name_normalisation_folds_traditional_full_width_spaces_and_dots():
    assert normalise_name("張偉") == "张伟"
    assert normalise_name("李　四") == "李四"  # ideographic space
    assert normalise_name("阿依•买买提") == normalise_name("阿依・买买提") == "阿依·买买提"
    assert normalise_name("ＡＢ王") == "AB王"
    assert homophone_key("章威") == homophone_key("張偉") == "zhang wei"
    assert homophone_key("王伟") != homophone_key("张伟")


def test_name_maps_translate_in_postgres_as_in_python():
    names = ["張偉", "章威", "李　四", "阿依•买买提", "王伟"]
    maps = build_name_maps("".join(names))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n, translate(n, %s, %s), translate(translate(n, %s, %s), %s, %s)"
            " FROM unnest(%s::text[]) AS n",
            [*(maps.norm_from, maps.norm_to) * 2, maps.sound_from, maps.sound_to, names],
        )
        rows = cursor.fetchall()
    for name, norm, sound in rows:
        assert norm == normalise_name(name)
        assert maps.sound_key_to_pinyin(sound) == homophone_key(name)


# -- duplicates -------------------------------------------------------------------------------


def test_same_name_sex_and_birth_date_under_two_ids_is_one_finding(village):
    a, b = person("张三"), person("张三")
    person("张三", born=dt.date(1991, 1, 1))  # another birth date
    person("张三", male=False)  # another sex
    person("李四")

    quality_detect(detectors=["dup_same_name"])

    assert issues(IssueKind.DUPLICATE_SAME_NAME) == [(sorted([a.pk, b.pk]), "open")]
    evidence = QualityIssue.objects.get().evidence
    assert evidence["key"] == "张三"
    assert [p["citizen_id"] for p in evidence["persons"]] == [
        a.masked_citizen_id,
        b.masked_citizen_id,
    ]


def test_cancelled_persons_are_no_duplicates(village):
    a, b = person("张三"), person("张三")
    Person.objects.filter(pk=b.pk).update(status=PersonStatus.CANCELLED)
    quality_detect(detectors=["dup_same_name"])
    assert issues(IssueKind.DUPLICATE_SAME_NAME) == []
    assert not QualityIssue.objects.filter(person_ids__contains=[a.pk]).exists()


def test_traditional_full_width_and_dot_variants_are_normalised_duplicates(village):
    a, b = person("張偉"), person("张伟")
    c, d = person("李　四"), person("李四")
    e, f = person("阿依•买买提"), person("阿依・买买提")
    g, h = person("王五"), person("王五")  # identical: the same-name detector's case only

    quality_detect(detectors=["dup_same_name", "dup_normalised"])

    assert sorted(issues(IssueKind.DUPLICATE_NORMALISED)) == sorted(
        [(sorted([a.pk, b.pk]), "open"), (sorted([c.pk, d.pk]), "open"), ([e.pk, f.pk], "open")]
    )
    assert issues(IssueKind.DUPLICATE_SAME_NAME) == [(sorted([g.pk, h.pk]), "open")]


def test_homophones_are_duplicates_but_a_different_sound_is_not(village):
    a, b = person("张伟"), person("章威")
    person("王伟")
    c, d = person("陈明"), person("陈明")  # identical, not a homophone finding

    quality_detect(detectors=["dup_homophone"])

    assert issues(IssueKind.DUPLICATE_HOMOPHONE) == [(sorted([a.pk, b.pk]), "open")]
    assert QualityIssue.objects.get().evidence["persons"][1]["name"] == "章威"
    assert not QualityIssue.objects.filter(person_ids__overlap=[c.pk, d.pk]).exists()


# -- idempotency and the review cycle ----------------------------------------------------------


def test_a_second_run_opens_nothing_and_writes_nothing(village):
    person("张三"), person("张三"), person("張偉"), person("张伟")
    first = quality_detect()
    before = list(QualityIssue.objects.order_by("id").values_list("id", "evidence_hash", "status"))
    second = quality_detect()

    assert first.results["dup_same_name"]["new"] == 1
    assert second.results["dup_same_name"] == {
        "found": 1,
        "new": 0,
        "reopened": 0,
        "updated": 0,
        "resolved": 0,
    }
    after = list(QualityIssue.objects.order_by("id").values_list("id", "evidence_hash", "status"))
    assert after == before
    assert second.status == RunStatus.DONE and second.finished_at is not None
    assert QualityRun.objects.count() == 2


def test_a_dismissed_finding_stays_dismissed_until_its_evidence_changes(
    village, django_user_model, city, assign_area
):
    officer = assign_area(django_user_model.objects.create_user("officer"), city)
    a, b = person("张三"), person("张三")
    quality_detect(detectors=["dup_same_name"])
    issue = QualityIssue.objects.get()
    quality_issue_decide(issue=issue, status=IssueStatus.DISMISSED, actor=officer, note="双胞胎")

    quality_detect(detectors=["dup_same_name"])
    issue.refresh_from_db()
    assert (issue.status, issue.decided_by_id, issue.decision_note) == (
        "dismissed",
        officer.pk,
        "双胞胎",
    )

    c = person("张三")  # the evidence changes: a third record
    run = quality_detect(detectors=["dup_same_name"])
    issue.refresh_from_db()
    assert run.results["dup_same_name"]["reopened"] == 1
    assert (issue.status, issue.decided_by_id) == ("open", None)
    assert sorted(issue.person_ids) == sorted([a.pk, b.pk, c.pk])
    assert QualityIssue.objects.count() == 1


def test_a_finding_gone_is_resolved_and_one_back_is_reopened(village):
    a, b = person("张三"), person("张三")
    quality_detect(detectors=["dup_same_name"])
    population_services.person_update(person=b, name="张山", actor=None, reason="更正姓名")

    run = quality_detect(detectors=["dup_same_name"])
    assert run.results["dup_same_name"]["resolved"] == 1
    assert issues(IssueKind.DUPLICATE_SAME_NAME) == [(sorted([a.pk, b.pk]), "resolved")]

    population_services.person_update(person=b, name="张三", actor=None, reason="改回")
    quality_detect(detectors=["dup_same_name"])
    assert issues(IssueKind.DUPLICATE_SAME_NAME) == [(sorted([a.pk, b.pk]), "open")]


def test_resolution_stays_within_the_detector_that_ran(village):
    raw_person(citizen_id=wrong_check_digit_id())
    person("张三"), person("张三")
    quality_detect()
    Person.objects.filter(name="张三").update(status=PersonStatus.CANCELLED)
    quality_detect(detectors=["record_checks"])  # the duplicate detector did not run
    assert [s for _, s in issues(IssueKind.DUPLICATE_SAME_NAME)] == ["open"]


def test_history_records_each_change_of_an_issue(village, django_user_model, city, assign_area):
    officer = assign_area(django_user_model.objects.create_user("officer"), city)
    person("张三"), person("张三")
    quality_detect(detectors=["dup_same_name"])
    issue = QualityIssue.objects.get()
    quality_issue_decide(issue=issue, status=IssueStatus.CONFIRMED, actor=officer)
    events = issue.events.order_by("pgh_id")
    assert [e.status for e in events] == ["open", "confirmed"]
    assert events.last().pgh_context.metadata["user"] == officer.pk


def test_bad_decisions_change_nothing(village, django_user_model, city, assign_area):
    officer = assign_area(django_user_model.objects.create_user("officer"), city)
    person("张三"), person("张三")
    quality_detect(detectors=["dup_same_name"])
    issue = QualityIssue.objects.get()
    for status, note, code in [
        ("dismissed", "  ", "note_required"),
        ("resolved", "", "note_required"),
        ("bogus", "x", "bad_status"),
    ]:
        with pytest.raises(DomainError) as err:
            quality_issue_decide(issue=issue, status=status, actor=officer, note=note)
        assert err.value.code == code
    quality_issue_decide(issue=issue, status=IssueStatus.CONFIRMED, actor=officer)
    with pytest.raises(DomainError) as err:
        quality_issue_decide(issue=issue, status=IssueStatus.CONFIRMED, actor=officer)
    assert err.value.code == "bad_transition"
    issue.refresh_from_db()
    assert issue.status == "confirmed"
    assert issue.events.count() == 2


def test_unknown_detector_is_refused_and_nothing_runs(village):
    with pytest.raises(DomainError) as err:
        quality_detect(detectors=["dup_same_name", "nope"])
    assert err.value.code == "unknown_detector"
    assert "nope" in err.value.message_zh
    assert QualityRun.objects.count() == 0


# -- registered twice -----------------------------------------------------------------------------


def test_two_open_registrations_of_one_name_sex_and_birth_date(village):
    a = registered(village, "张三")
    b = registered(village, "張三")  # normalised equal, both registered
    person("张三")  # recorded but not registered: no 多重户口
    registered(village, "李四")

    quality_detect(detectors=["registered_twice"])

    assert issues(IssueKind.REGISTERED_TWICE) == [(sorted([a.pk, b.pk]), "open")]
    evidence = QualityIssue.objects.get().evidence
    assert evidence["rule"] == "two_open_registrations"
    assert len(evidence["households"]) == 2


def test_a_number_corrected_away_but_still_held_by_another_record(village):
    a = person("张三")
    old = a.citizen_id
    population_services.person_correct_citizen_id(
        person=a, new_citizen_id=next_id(), actor=None, reason="重号更正"
    )
    b = raw_person(citizen_id=old, name="张三")

    quality_detect(detectors=["registered_twice"])

    assert issues(IssueKind.REGISTERED_TWICE) == [([a.pk, b.pk], "open")]
    assert QualityIssue.objects.get().evidence["rule"] == "corrected_number_still_recorded"


# -- per-record checks ---------------------------------------------------------------------------


def test_record_checks_find_each_problem_and_pass_clean_records(village):
    other = Region.objects.create(
        code="441802006002", name="第二社区", level=RegionLevel.VILLAGE, parent=village.parent
    )
    clean = registered(village, "清白")
    bad_digit = raw_person(citizen_id=wrong_check_digit_id())
    unknown_code = raw_person(citizen_id=build_citizen_id("449999", BORN, 11))
    blank = raw_person(citizen_id=next_id(), name="  ")
    no_ethnicity = raw_person(citizen_id=next_id(), name="缺民族", ethnicity="")
    no_household = person("无户", hukou_region=village)
    wrong_region = registered(village, "错地")
    Person.objects.filter(pk=wrong_region.pk).update(hukou_region=other)
    still = registered(village, "应销")
    Person.objects.filter(pk=still.pk).update(status=PersonStatus.DECEASED)  # a legacy edit
    dead = registered(village, "已销")
    services.death_cancel(
        person=dead, death_date=dt.date(2024, 1, 1), document_number="D1", actor=None
    )

    quality_detect(detectors=["record_checks"])

    found = {(i.kind, i.person_ids[0]): i.evidence["failed"] for i in QualityIssue.objects.all()}
    assert found == {
        (IssueKind.ID_MISMATCH, bad_digit.pk): ["check_digit_wrong"],
        (IssueKind.ID_MISMATCH, unknown_code.pk): ["address_code_unknown"],
        (IssueKind.MISSING_FIELDS, blank.pk): ["name_blank"],
        (IssueKind.MISSING_FIELDS, no_ethnicity.pk): ["ethnicity_missing"],
        (IssueKind.MISSING_FIELDS, no_household.pk): ["registered_without_household"],
        (IssueKind.REGION_MISMATCH, wrong_region.pk): ["hukou_region_differs_from_household"],
        (IssueKind.INACTIVE_REGISTERED, still.pk): ["inactive_with_open_membership"],
    }
    assert not QualityIssue.objects.filter(person_ids__overlap=[clean.pk, dead.pk]).exists()
    inactive = QualityIssue.objects.get(kind=IssueKind.INACTIVE_REGISTERED)
    assert inactive.household_id == Membership.objects.get(person=still).household_id


def test_family_household_without_head(village):
    headed = registered(village, "户主甲")
    member = registered(village, "成员乙", relation=Relation.SON, into=household(village))
    collective = household(village, kind=HouseholdKind.PUBLIC_COLLECTIVE)
    services.settle_into_collective(
        person=person("集体丙"),
        from_household=None,
        to_household=collective,
        on=dt.date(2021, 1, 1),
        actor=None,
    )

    quality_detect(detectors=["household_no_head"])

    headless = Membership.objects.get(person=member).household_id
    assert [(i.household_id, i.person_ids) for i in QualityIssue.objects.all()] == [
        (headless, [member.pk])
    ]
    assert not QualityIssue.objects.filter(person_ids__contains=[headed.pk]).exists()


def _death_notice_about(someone: Person, region: Region) -> None:
    from population.sync import services as sync_services
    from population.sync.samples import SamplePerson, sample_feed

    about = [
        SamplePerson(someone.citizen_id, someone.name, someone.sex, someone.birth_date, region.pk)
    ]
    feed = sample_feed(kind="death", persons=about, rows=1)
    batch = sync_services.batch_receive(
        department="health",
        content=feed.content,
        filename="death.csv",
        fmt="csv",
        source="api",
        enqueue=False,
    )
    sync_services.batch_process(batch_id=batch.pk)


def test_a_death_notice_for_a_registered_person_is_a_finding_until_the_death_is_registered(
    village,
):
    # given a registered person the 卫健 feed reports dead, and one it does not
    dead = registered(village, "周五")
    alive = registered(village, "吴六")
    _death_notice_about(dead, village)

    quality_detect(detectors=["deceased_per_notice"])

    [(person_ids, status)] = issues(IssueKind.DECEASED_PER_NOTICE)
    assert (person_ids, status) == ([dead.pk], IssueStatus.OPEN)
    issue = QualityIssue.objects.get(kind=IssueKind.DECEASED_PER_NOTICE)
    assert issue.evidence["notices"] and issue.evidence["death_date"]
    assert alive.citizen_id not in str(issue.evidence) and dead.citizen_id not in str(
        issue.evidence
    )

    # when the officer registers the death, the next run resolves the finding
    membership = Membership.objects.get(person=dead, end_date__isnull=True)
    services.death_cancel(
        person=dead,
        death_date=max(membership.start_date, dt.date.fromisoformat(issue.evidence["death_date"])),
        document_number="SW-1",
        actor=None,
    )
    quality_detect(detectors=["deceased_per_notice"])
    assert issues(IssueKind.DECEASED_PER_NOTICE) == [([dead.pk], IssueStatus.RESOLVED)]
