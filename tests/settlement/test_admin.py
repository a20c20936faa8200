"""The settlement admin: queues, allowed buttons only, the eligibility panel, masked lists,
transitions through services, and reads in the access log."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from population.identity import build_citizen_id, mask_citizen_id
from population.models import AccessLog
from settlement import services
from settlement.models import Status

from .conftest import ON

pytestmark = pytest.mark.django_db
CID = build_citizen_id("441802", dt.date(1990, 1, 1), 3)


@pytest.fixture
def accepted(qy_current, officers):
    app = services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=CID,
        name="李四",
        evidence={
            "properties": [
                {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
            ]
        },
        actor=None,
    )
    app = services.application_submit(application=app, actor=None, on=ON)
    return services.application_accept(application=app, actor=officers["officer"], on=ON)


def _page(client, user, app):
    client.force_login(user)
    return client.get(
        reverse("admin:settlement_application_change", args=[app.pk])
    ).content.decode()


def _visible(html: str) -> str:
    """The page's text without tags, scripts, styles and attributes."""
    import re

    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_list_masks_ids_and_logs_the_read(client, officers, accepted):
    client.force_login(officers["officer"])
    before = AccessLog.objects.count()
    html = client.get(reverse("admin:settlement_application_changelist")).content.decode()
    assert mask_citizen_id(CID) in html and CID not in html
    assert AccessLog.objects.count() == before + 1
    assert AccessLog.objects.last().channel == "admin.settlement_list"


def test_queue_filter_shows_the_reviewer_queue(client, officers, accepted):
    client.force_login(officers["officer"])
    url = reverse("admin:settlement_application_changelist")
    assert mask_citizen_id(CID) in client.get(url + "?queue=reviewer").content.decode()
    assert mask_citizen_id(CID) not in client.get(url + "?queue=acceptor").content.decode()


def test_only_allowed_buttons_and_the_eligibility_panel(client, officers, accepted):
    html = _page(client, officers["officer"], accepted)
    assert "开始审核调查" in html and "不予落户" in html and "撤回" in html
    assert "审批通过" not in html and "签发准迁证" not in html and "受理</a>" not in html
    # facts and values by their Chinese names, never code names or Python values
    assert "？ 缺少证明" in html and "住所所在区域" in html
    assert "还需查明：实际居住地址所在的区划代码" in html  # the fact to state, not the zone
    assert "✔ 符合" in html and "<td>是</td>" in html
    for shown in ("residence_zone", "residence_region_code", "home_purchase", "True", "None",
                  "#"):  # fmt: skip
        assert shown not in _visible(html), shown
    assert "购房和自建房入户" in html and "未提供" in html
    assert AccessLog.objects.last().channel == "admin.settlement"


def test_the_acceptor_sees_no_approve_button_the_supervisor_does(client, officers, accepted):
    app = services.application_review_start(application=accepted, actor=officers["officer"], on=ON)
    assert "审批通过" not in _page(client, officers["officer"], app)
    assert "审批通过" in _page(client, officers["chief"], app)


def test_buttons_run_the_services_and_refusals_change_nothing(client, officers, accepted):
    client.force_login(officers["officer"])
    url = reverse("admin:settlement_application_act", args=[accepted.pk, "mark_approved"])
    client.post(url, {"comment": "越级"})  # not allowed from 已受理: refused, nothing changes
    accepted.refresh_from_db()
    assert accepted.status == Status.ACCEPTED and accepted.approved_by_id is None
    accepted = services.application_review_start(
        application=accepted, actor=officers["officer"], on=ON
    )
    url = reverse("admin:settlement_application_act", args=[accepted.pk, "mark_returned"])
    assert "需补正的材料" in client.get(url).content.decode()
    client.post(url, {"missing": "\n"})
    accepted.refresh_from_db()
    assert accepted.status == Status.UNDER_REVIEW
    client.post(url, {"missing": "房屋产权证\n购房合同备案", "comment": "请补正"})
    accepted.refresh_from_db()
    assert accepted.status == Status.RETURNED
    assert accepted.missing_items == ["房屋产权证", "购房合同备案"]
    assert accepted.transitions.last().officer == officers["officer"]


def test_targets_page_lists_shaoguan_and_guangzhou(client, officers):
    client.force_login(officers["chief"])
    html = client.get(reverse("admin:settlement_targets")).content.decode()
    assert "6万左右非户籍人口" in html and "60000" in html
    assert "积分入户年度指标" in html


def test_full_number_only_for_roles_allowed_to_see_it(client, officers, accepted):
    from django.contrib.auth.models import User

    assert CID in _page(client, officers["officer"], accepted)
    viewer = User.objects.create_user("viewer", is_staff=True)
    region = officers["officer"].jurisdiction_regions.get().region
    viewer.jurisdiction_regions.create(region=region)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="settlement", codename="view_application")
    )
    html = _page(client, User.objects.get(pk=viewer.pk), accepted)
    assert mask_citizen_id(CID) in html and CID not in html


def test_the_auditor_reads_an_application_without_buttons_it_may_not_use(
    client, officers, accepted, city
):
    from django.contrib.auth.models import Group, User

    from population import roles

    auditor = User.objects.create_user("auditor", is_staff=True)
    auditor.groups.add(Group.objects.get(name=roles.AUDITOR))
    auditor.jurisdiction_regions.create(region=city)
    html = _page(client, User.objects.get(pk=auditor.pk), accepted)
    assert "李四" in html
    assert "/act/" not in html
    for button in ("开始审核调查", "不予落户", "撤回"):
        assert f">{button}</a>" not in html
    url = reverse("admin:settlement_application_act", args=[accepted.pk, "mark_withdrawn"])
    assert client.get(url).status_code == 403
    assert ">开始审核调查</a>" in _page(client, officers["officer"], accepted)


def test_rule_set_pages_name_the_document_never_the_data_file(client, officers):
    from settlement.demo import demo_ruleset_ensure
    from settlement.models import RuleSet

    demo = demo_ruleset_ensure(city_code="441800")
    client.force_login(officers["officer"])
    listing = client.get(reverse("admin:settlement_ruleset_changelist")).content.decode()
    assert ".json" not in _visible(listing)
    real = RuleSet.objects.exclude(pk=demo.pk).get(city_code="441800", version="2015")
    page = client.get(reverse("admin:settlement_ruleset_change", args=[real.pk])).content.decode()
    assert ".json" not in _visible(page)
    assert f"《{real.document}》" in page and "规则来源" in page
    page = client.get(reverse("admin:settlement_ruleset_change", args=[demo.pk])).content.decode()
    assert ".json" not in _visible(page)
    assert "演示规则：复制自清远市2015版本" in page
