"""End to end: data quality from 运行检测 to an approved merge, by clicking, in Chromium.

A supervisor runs the checks from the review queue (the Celery task runs eagerly, as in the
quickstart), watches the run's page, opens the finding, reads its evidence table and proposes
the merge; a second supervisor approves it. Every page passes the desk checks; the database
outcome is asserted at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from config.celery import app as celery_app
from population import roles
from population import services as population_services
from population.models import OfficerRegion, Person, PersonStatus
from registry.quality.models import IssueStatus, MergeStatus, PersonMerge, QualityIssue, QualityRun
from tests.e2e.desk_checks import follow, page_ok
from tests.registry.quality_factories import next_id, registered

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Zl-2024-质量-e2e!"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def supervisor(name: str, city) -> User:
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True, first_name=name)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    OfficerRegion.objects.create(user=user, region=city)
    return user


def test_data_quality_from_running_the_checks_to_an_approved_merge(
    page, live_server, admin_login, village, city, monkeypatch
):
    # The quickstart has no broker: the task runs in the request (eagerly).
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    original = registered(village, "陈重复")
    double = population_services.person_create(
        citizen_id=next_id(), name="陈重复", actor=None, reason="窗口重复录入"
    )
    supervisor("主管甲", city)
    supervisor("主管乙", city)

    admin_login("主管甲", PASSWORD)
    page_ok(page)
    follow(page, lambda: page.locator("#content-main tr.model-qualityissue th a").click())
    follow(page, lambda: page.click("#quality-run"))
    expect(page.locator(".messagelist")).to_contain_text("数据质量检测已运行")
    expect(page.locator("body")).to_contain_text("同名同性别同出生日期")
    expect(page.locator("body")).to_contain_text("新增 1")
    follow(page, lambda: page.get_by_role("link", name="返回核查队列").click())

    follow(page, lambda: page.locator("#result_list tbody tr th a").first.click())
    evidence = page.locator("table.quality-details")
    expect(evidence).to_contain_text("涉及人员")
    expect(evidence).to_contain_text("陈重复（")
    follow(page, lambda: page.get_by_role("link", name="提出合并申请").click())
    # Prefilled from the finding: keep the earlier record, cancel the later one.
    expect(page.locator("#select2-id_survivor-container")).to_contain_text("陈重复")
    page.fill("#id_reason", "同一人窗口重复录入，核对户口簿无误")
    follow(page, lambda: page.click("input[name=_save]"))
    expect(page.locator(".messagelist")).to_contain_text("陈重复 → 陈重复")

    follow(page, lambda: page.locator("#logout-form button").click())
    admin_login("主管乙", PASSWORD)
    page_ok(page)
    follow(page, lambda: page.locator("#content-main tr.model-personmerge th a").click())
    follow(page, lambda: page.locator("#result_list tbody tr th a").first.click())
    follow(page, lambda: page.get_by_role("link", name="审批此申请").click())
    page.select_option("#id_decision", "approve")
    page.fill("#id_note", "已核实")
    follow(page, lambda: page.click("input[type=submit]"))
    expect(page.locator(".messagelist")).to_contain_text("已批准")
    expect(page.locator("body")).to_contain_text("重复记录的户籍关系")
    page_ok(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "quality-merge-approved.png"), full_page=True)

    assert QualityRun.objects.get().status == "done"
    merge = PersonMerge.objects.get()
    assert merge.status == MergeStatus.APPROVED
    assert merge.proposed_by.username == "主管甲" and merge.decided_by.username == "主管乙"
    assert {merge.survivor_id, merge.duplicate_id} == {original.pk, double.pk}
    assert Person.objects.get(pk=merge.duplicate_id).status == PersonStatus.CANCELLED
    assert Person.objects.get(pk=merge.survivor_id).status == PersonStatus.ACTIVE
    assert QualityIssue.objects.get().status in (IssueStatus.OPEN, IssueStatus.RESOLVED)
