"""End to end: an auditor reads the result of the nightly access-log verification (审计核验)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from population import roles
from population.audit import access_log_record, access_log_seal, access_log_verify_record
from population.models import AuditCheckpoint, AuditVerification
from tests import dburl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUDITOR = "审计员甲"
PASSWORD = "Sj-2026-审计-e2e!"
# Allowed Latin: the product name, format names, and the algorithm names on the checkpoint page.
ALLOWED_LATIN = {"popbase", "PDF", "XLSX", "CSV", "ID", "HMAC", "SHA", "SM"}


def _page_is_clean(page, responses) -> None:
    assert all(status < 400 for status in responses), responses
    # Django's own screen-reader table headers (.visually-hidden: "Model name", "Add link") have
    # no zh-hans translation in Django 5.2; that is the admin templates' matter, not this page's.
    text = page.evaluate(
        """() => { const body = document.body.cloneNode(true);
            body.querySelectorAll('.visually-hidden').forEach(e => e.remove());
            return body.innerText; }"""
    )
    latin = {w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED_LATIN}
    assert not latin, (latin, text)
    for bad in ("None", "True", "False"):
        assert bad not in text
    assert not re.search(r"#\d+", text)


def test_auditor_sees_the_break_the_nightly_verification_found(
    page, live_server, admin_login, settings, tmp_path
):
    shots = tmp_path / "screens"  # looked at by hand when the page changes
    from django.contrib.auth.models import Group, User

    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    for i in range(6):
        access_log_record(user=None, channel="api.persons", purpose="p", person_ids=[i], fields=[])
    access_log_seal(batch_size=3)
    access_log_verify_record(source="beat")  # an intact night
    # Someone with the superuser's rights deletes the newest two reads behind the trigger's
    # back (the app's runtime role may not: tests/dburl.py).
    dburl.privileged_execute(
        [
            "SET LOCAL session_replication_role = replica",
            "DELETE FROM population_accesslog WHERE id IN"
            " (SELECT log_id FROM population_accesslogseal WHERE seq > 4)",
            "DELETE FROM population_accesslogseal WHERE seq > 4",
        ]
    )
    broken = access_log_verify_record(source="beat")
    assert (broken.intact, broken.finding, broken.seq) == (False, "truncated", 5)

    user = User.objects.create_user(AUDITOR, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.AUDITOR))
    responses: list[int] = []
    page.on("response", lambda r: responses.append(r.status) if "/admin/" in r.url else None)

    admin_login(AUDITOR, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/admin/")
    page.get_by_role("link", name="审计核验", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/population/auditverification/$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    newest = rows.first
    expect(newest.locator("td.field-finding_label")).to_have_text("末尾记录被删除")
    expect(newest.locator("td.field-seq")).to_have_text("5")
    expect(newest.locator("td.field-source_label")).to_have_text("每夜定时核验")
    expect(rows.nth(1).locator("td.field-finding_label")).to_have_text("无")
    page.screenshot(path=f"{shots}/verification-list.png", full_page=True)
    _page_is_clean(page, responses)

    newest.locator("th a").click()
    page.wait_for_url(re.compile(rf"/admin/population/auditverification/{broken.pk}/change/$"))
    expect(page.locator(".field-detail .readonly")).to_contain_text("记录只到 4")
    expect(page.locator(".field-finding_label .readonly")).to_have_text("末尾记录被删除")
    page.screenshot(path=f"{shots}/verification-detail.png", full_page=True)
    _page_is_clean(page, responses)

    # The signed checkpoints behind the result, from the same section of the index.
    page.locator("#site-name a").click()
    page.get_by_role("link", name="审计检查点", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/population/auditcheckpoint/$"))
    checkpoints = page.locator("#result_list tbody tr")
    expect(checkpoints).to_have_count(2)
    expect(checkpoints.first.locator("td.field-last_seq")).to_have_text("6")
    expect(checkpoints.first.locator("td.field-algorithm_label")).to_have_text("HMAC-SHA-256")
    page.screenshot(path=f"{shots}/checkpoints.png", full_page=True)
    _page_is_clean(page, responses)

    # Reading changed nothing: the two results and the two checkpoints are as they were.
    assert list(AuditVerification.objects.order_by("pk").values_list("intact", "seq")) == [
        (True, None),
        (False, 5),
    ]
    assert AuditCheckpoint.objects.count() == 2


def test_auditor_searches_a_person_by_citizen_id_and_sees_who_read_them(
    page, live_server, admin_login, settings, tmp_path, make_person, village, assign_area
):
    """谁查阅了我: an auditor of the county types a resident's number and reads the list."""
    from django.contrib.auth.models import Group, User

    from tests.e2e.conftest import assert_clean_page, watch_documents

    shots = tmp_path / "screens"
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    resident = make_person(name="李四", hukou_region=village)
    neighbour = make_person(name="王五", hukou_region=village)
    officer = User.objects.create_user("民警甲", password="x", is_staff=True)
    access_log_record(
        user=officer, channel="admin.person", purpose="户籍业务办理（管理后台）",
        person_ids=[resident.pk], fields=["name", "masked_id", "hukou_region"],
    )  # fmt: skip
    access_log_record(
        user=None, channel="api.persons", purpose="social_insurance 社会保险经办",
        person_ids=[resident.pk, neighbour.pk], fields=["citizen_id", "name"],
    )  # fmt: skip
    access_log_record(
        user=officer, channel="admin.household", purpose="户籍业务办理（管理后台）",
        person_ids=[neighbour.pk], fields=["name"],
    )  # fmt: skip
    access_log_seal()

    user = User.objects.create_user(AUDITOR, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.AUDITOR))
    assign_area(user, village.parent.parent)  # the county
    watch_documents(page)

    admin_login(AUDITOR, PASSWORD)
    page.get_by_role("link", name="查阅日志", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/population/accesslog/$"))
    page.get_by_role("link", name="按人员查询").click()
    page.wait_for_url(re.compile(r"/admin/population/accesslog/person/$"))
    # A typo first: the page says what is wrong and stays.
    page.fill("input[name=citizen_id]", resident.citizen_id[:-1])
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".errorlist")).to_be_visible()
    assert_clean_page(page)
    page.fill("input[name=citizen_id]", resident.citizen_id)
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(rf"/admin/population/accesslog/person/{resident.pk}/$"))

    rows = page.locator("#person-reads tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("h1")).to_contain_text("李四")
    expect(rows.first.locator(".read-channel")).to_have_text("共享接口：人员查询")
    expect(rows.first.locator(".read-purpose")).to_have_text("社会保险经办")
    expect(rows.nth(1).locator(".read-who")).to_have_text("民警甲")
    expect(rows.nth(1).locator(".read-fields")).to_have_text("姓名、公民身份号码（掩码）、户籍地")
    expect(page.locator("#person-reads")).not_to_contain_text("后台：户页面")  # the neighbour's
    assert resident.citizen_id not in page.locator("body").inner_text()
    page.screenshot(path=f"{shots}/person-reads.png", full_page=True)
    assert_clean_page(page)

    # One read opened: channel and fields in Chinese.
    rows.nth(1).locator(".read-at a").click()
    page.wait_for_url(re.compile(r"/admin/population/accesslog/\d+/change/$"))
    expect(page.locator(".field-channel_label_shown .readonly")).to_have_text("后台：人员页面")
    expect(page.locator(".field-fields_shown .readonly")).to_have_text(
        "姓名、公民身份号码（掩码）、户籍地"
    )
    page.screenshot(path=f"{shots}/access-log-detail.png", full_page=True)
    assert_clean_page(page)

    # From the person's page, the same list through 查询记录.
    page.goto(f"{live_server.url}/admin/population/person/?q={resident.citizen_id}")
    page.get_by_role("link", name="查询记录").click()
    page.wait_for_url(re.compile(rf"/admin/population/accesslog/person/{resident.pk}/$"))
    # The auditor's own looks are on record too once sealed: the list twice and the person's
    # page once, newest first.
    access_log_seal()
    page.reload()
    expect(rows).to_have_count(5)
    who = [AUDITOR, AUDITOR, AUDITOR, "（系统）", "民警甲"]
    expect(rows.locator(".read-who")).to_have_text(who)
    expect(rows.locator(".read-channel")).to_have_text(
        ["后台：查询记录页面", "后台：人员页面", "后台：查询记录页面", "共享接口：人员查询",
         "后台：人员页面"]
    )  # fmt: skip
    page.screenshot(path=f"{shots}/person-reads-after.png", full_page=True)
    assert_clean_page(page)
