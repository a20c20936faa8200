"""Admin pages of data quality: who may see and do what; decisions go through the services."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from population import roles
from population import services as population_services
from population.errors import DomainError
from population.models import AccessLog, Person, PersonStatus
from registry.quality.models import IssueStatus, MergeStatus, PersonMerge, QualityIssue
from registry.quality.services import person_merge_propose, quality_detect
from tests.registry.quality_factories import next_id, registered

pytestmark = pytest.mark.django_db

ISSUES = "/admin/registry/qualityissue/"
FIGURES = "/admin/registry/qualityissue/figures/"
MERGES = "/admin/registry/personmerge/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def login(client, django_user_model, city, assign_area):
    """A staff member of the role, working across the whole city (their 辖区)."""

    def _login(role: str | None, username: str | None = None, area=None):
        user = django_user_model.objects.create_user(username or f"u-{role}", is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        assign_area(user, area or city)
        client.force_login(user)
        return user

    return _login


@pytest.fixture
def pair(village):
    a = registered(village, "张三")
    b = population_services.person_create(
        citizen_id=next_id(), name="张三", actor=None, reason="测试"
    )
    quality_detect(detectors=["dup_same_name"])
    return a, b


def test_supervisor_sees_queue_issue_figures_and_merges(client, login, pair):
    login(roles.SUPERVISOR)
    issue = QualityIssue.objects.get()
    listing = client.get(ISSUES)
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [issue]
    assert "数据质量指标" in listing.content.decode()
    page = client.get(f"{ISSUES}{issue.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert pair[0].masked_citizen_id in body and pair[0].citizen_id not in body
    assert "提出合并申请" in body
    assert AccessLog.objects.filter(channel="admin.quality_issue").get().person_ids == sorted(
        issue.person_ids
    )
    figures = client.get(FIGURES)
    assert figures.status_code == 200
    assert [(r.code, r.persons) for r in figures.context["rows"]] == [("441802", 1)]
    township = client.get(FIGURES, {"level": "township", "within": "441802"})
    assert [r.code for r in township.context["rows"]] == ["441802006"]
    assert client.get(MERGES).status_code == 200
    assert client.get("/admin/registry/qualityrun/").status_code == 200


@pytest.mark.parametrize("role", [roles.STATISTICIAN, roles.AUDITOR])
def test_figures_are_open_to_statisticians_and_auditors(client, login, pair, role):
    login(role)
    assert client.get(FIGURES).status_code == 200


@pytest.mark.parametrize("role", [roles.REGISTRATION_OFFICER, None])
def test_figures_refused_to_roles_without_the_permission(client, login, pair, role):
    login(role)
    assert client.get(FIGURES).status_code == 403


def test_staff_without_a_role_reach_nothing(client, login, pair):
    login(None)
    issue = QualityIssue.objects.get()
    assert client.get(ISSUES).status_code == 403
    assert client.get(f"{ISSUES}{issue.pk}/change/").status_code == 403
    assert client.get(MERGES).status_code == 403


def test_officer_dismisses_with_a_note_and_a_missing_note_is_refused(client, login, pair):
    officer = login(roles.REGISTRATION_OFFICER)
    issue = QualityIssue.objects.get()
    url = f"{ISSUES}{issue.pk}/change/"

    refused = client.post(url, {"decision": "dismissed", "note": ""}, follow=True)
    assert "排除或解决须填写说明" in refused.content.decode()
    issue.refresh_from_db()
    assert issue.status == IssueStatus.OPEN

    client.post(url, {"decision": "dismissed", "note": "双胞胎"})
    issue.refresh_from_db()
    assert (issue.status, issue.decided_by_id, issue.decision_note) == (
        "dismissed",
        officer.pk,
        "双胞胎",
    )


def test_officer_proposes_a_merge_but_cannot_approve_it(client, login, pair):
    officer = login(roles.REGISTRATION_OFFICER)
    survivor, duplicate = pair
    issue = QualityIssue.objects.get()
    response = client.post(
        f"{MERGES}add/",
        {
            "duplicate": duplicate.pk,
            "survivor": survivor.pk,
            "issue": issue.pk,
            "reason": "同一人",
        },
    )
    assert response.status_code == 302
    merge = PersonMerge.objects.get()
    assert (merge.proposed_by_id, merge.status) == (officer.pk, MergeStatus.PROPOSED)
    decide = f"{MERGES}{merge.pk}/decide/"
    assert client.get(decide).status_code == 403
    assert client.post(decide, {"decision": "approve"}).status_code == 403
    merge.refresh_from_db()
    assert merge.status == MergeStatus.PROPOSED


def test_same_person_proposal_is_refused_in_the_form(client, login, pair):
    login(roles.REGISTRATION_OFFICER)
    a = pair[0]
    response = client.post(
        f"{MERGES}add/", {"duplicate": a.pk, "survivor": a.pk, "reason": "x"}, follow=True
    )
    assert "保留人员与重复人员不能是同一人" in response.content.decode()
    assert PersonMerge.objects.count() == 0


def test_supervisor_approves_anothers_proposal_but_not_their_own(
    client, login, pair, django_user_model, city, assign_area
):
    officer = assign_area(django_user_model.objects.create_user("proposer"), city)
    officer.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    supervisor = login(roles.SUPERVISOR)
    survivor, duplicate = pair
    theirs = person_merge_propose(
        survivor=survivor, duplicate=duplicate, actor=officer, reason="同一人"
    )
    page = client.get(f"{MERGES}{theirs.pk}/decide/")
    assert page.status_code == 200
    assert duplicate.masked_citizen_id in page.content.decode()

    response = client.post(f"{MERGES}{theirs.pk}/decide/", {"decision": "approve", "note": "核实"})
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.status, theirs.decided_by_id) == (MergeStatus.APPROVED, supervisor.pk)
    assert Person.objects.get(pk=duplicate.pk).status == PersonStatus.CANCELLED

    other = population_services.person_create(
        citizen_id=next_id(), name="张三", actor=None, reason="测试"
    )
    mine = person_merge_propose(survivor=survivor, duplicate=other, actor=supervisor, reason="重")
    refused = client.post(f"{MERGES}{mine.pk}/decide/", {"decision": "approve"})
    assert refused.status_code == 200
    assert "不能审批本人提出的申请" in refused.content.decode()
    mine.refresh_from_db()
    assert mine.status == MergeStatus.PROPOSED
    assert Person.objects.get(pk=other.pk).status == PersonStatus.ACTIVE


def test_the_issue_page_link_opens_a_prefilled_merge_proposal(client, login, pair):
    login(roles.REGISTRATION_OFFICER)
    issue = QualityIssue.objects.get()
    first, second = sorted(issue.person_ids)
    page = client.get(f"{MERGES}add/", {"issue": issue.pk, "survivor": first, "duplicate": second})
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert (form.initial["issue"], form.initial["survivor"], form.initial["duplicate"]) == (
        str(issue.pk),
        str(first),
        str(second),
    )


def test_an_officer_sees_only_the_issues_and_merges_of_their_area(
    client, login, pair, village, city, assign_area, django_user_model
):
    from population.models import Region, RegionLevel

    # given a second township of the city with its own duplicate pair
    township = Region.objects.create(
        code="441802007000",
        name="东城街道",
        level=RegionLevel.TOWNSHIP,
        parent=village.parent.parent,
    )
    elsewhere = Region.objects.create(
        code="441802007001",
        name="东城第一社区",
        level=RegionLevel.VILLAGE,
        parent=township,
    )
    far = registered(elsewhere, "李四")
    far_twin = registered(elsewhere, "李四")
    quality_detect(detectors=["dup_same_name"])
    here = QualityIssue.objects.get(person_ids__contains=[pair[0].pk])
    there = QualityIssue.objects.get(person_ids__contains=[far.pk])
    officer = login(roles.REGISTRATION_OFFICER, area=village.parent)
    # the officer cannot propose a merge of records outside their area; a city-wide one can
    with pytest.raises(DomainError) as refused:
        person_merge_propose(survivor=far, duplicate=far_twin, actor=officer, reason="重")
    assert refused.value.code == "outside_jurisdiction"
    chief = assign_area(django_user_model.objects.create_user("chief-city"), city)
    far_merge = person_merge_propose(survivor=far, duplicate=far_twin, actor=chief, reason="重")

    listing = client.get(ISSUES)
    assert [i.pk for i in listing.context["cl"].result_list] == [here.pk]
    assert client.get(f"{ISSUES}{there.pk}/change/").status_code in (302, 404)
    assert client.get(f"{ISSUES}{here.pk}/change/").status_code == 200
    merges = client.get(MERGES)
    assert far_merge.pk not in [m.pk for m in merges.context["cl"].result_list]
    assert client.get(f"{MERGES}{far_merge.pk}/change/").status_code in (302, 404)


def test_a_supervisor_runs_the_checks_from_the_queue_and_sees_the_progress(
    client, login, village, monkeypatch
):
    """运行检测 as in the quickstart (no broker: the task runs eagerly): the run is recorded,
    its page lists each detector's counts in Chinese, and the queue holds the new finding.
    With a broker the same task goes to a worker (tests/integration cover the real worker)."""
    from config.celery import app as celery_app
    from registry.quality.models import QualityRun, RunStatus

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)

    registered(village, "李四")
    population_services.person_create(citizen_id=next_id(), name="李四", actor=None, reason="测试")
    login(roles.SUPERVISOR)
    queue = client.get(ISSUES).content.decode()
    assert 'id="quality-run"' in queue
    response = client.post(f"{ISSUES}run/", follow=True)
    assert response.status_code == 200
    run = QualityRun.objects.get()
    assert run.status == RunStatus.DONE
    assert response.redirect_chain[-1][0] == f"/admin/registry/qualityrun/{run.pk}/change/"
    body = response.content.decode()
    assert f"已完成 {len(run.detectors)} / {len(run.detectors)} 项检测" in body
    assert "同名同性别同出生日期" in body and "新增 1" in body
    assert "dup_same_name" not in body and "found" not in body
    assert QualityIssue.objects.filter(status=IssueStatus.OPEN).count() == 1


@pytest.mark.parametrize("role", [roles.REGISTRATION_OFFICER, roles.STATISTICIAN, roles.AUDITOR])
def test_only_supervisors_may_run_the_checks(client, login, village, role):
    from registry.quality.models import QualityRun

    login(role)
    assert 'id="quality-run"' not in client.get(ISSUES).content.decode()
    assert client.post(f"{ISSUES}run/").status_code == 403
    assert not QualityRun.objects.exists()


def test_evidence_and_merge_details_are_chinese_tables(
    client, login, pair, django_user_model, city, assign_area
):
    officer = assign_area(django_user_model.objects.create_user("proposer2"), city)
    officer.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    login(roles.SUPERVISOR)
    issue = QualityIssue.objects.get()
    body = client.get(f"{ISSUES}{issue.pk}/change/").content.decode()
    assert '<table class="quality-details">' in body
    assert "涉及人员" in body and "张三（" in body
    assert '"persons"' not in body and "<pre>" not in body
    survivor, duplicate = pair
    merge = person_merge_propose(
        survivor=survivor, duplicate=duplicate, actor=officer, reason="同一人"
    )
    client.post(f"{MERGES}{merge.pk}/decide/", {"decision": "approve", "note": "核实"})
    page = client.get(f"{MERGES}{merge.pk}/change/").content.decode()
    assert "合并结果" in page and "重复记录的户籍关系" in page
    assert "survivor_id" not in page and "open_membership" not in page
    assert f"{duplicate.pk} → {survivor.pk}" not in page


def test_the_auditor_reads_an_issue_without_the_merge_button_it_may_not_use(client, login, pair):
    login(roles.AUDITOR)
    issue = QualityIssue.objects.get()
    page = client.get(f"{ISSUES}{issue.pk}/change/")
    assert page.status_code == 200
    assert "提出合并申请" not in page.content.decode()
    assert client.get(f"{MERGES}add/?issue={issue.pk}").status_code == 403


def test_the_merge_button_leads_an_officer_to_a_filled_in_proposal(client, login, pair):
    login(roles.REGISTRATION_OFFICER)
    issue = QualityIssue.objects.get()
    page = client.get(f"{ISSUES}{issue.pk}/change/").content.decode()
    href = re.search(r'<a href="([^"]+)">提出合并申请</a>', page).group(1).replace("&amp;", "&")
    proposal = client.get(href)
    assert proposal.status_code == 200
    assert proposal.context["adminform"].form.initial["issue"] == str(issue.pk)


def test_the_decide_link_shows_only_to_an_approver_other_than_the_proposer(
    client, login, pair, django_user_model
):
    proposer = login(roles.SUPERVISOR, "proposer")
    survivor, duplicate = pair
    merge = person_merge_propose(
        survivor=survivor,
        duplicate=duplicate,
        issue=QualityIssue.objects.get(),
        reason="同一人",
        actor=proposer,
    )
    page = f"{MERGES}{merge.pk}/change/"
    assert "审批此申请" not in client.get(page).content.decode()  # the proposer
    login(roles.AUDITOR, "reader")
    assert "审批此申请" not in client.get(page).content.decode()
    login(roles.SUPERVISOR, "second")
    body = client.get(page).content.decode()
    href = re.search(r'<a href="([^"]+)">审批此申请</a>', body).group(1)
    assert client.get(href).status_code == 200
