"""End to end: 居住证 from residence registration to print, by clicking, in headless Chromium.

An officer registers a migrant's residence, submits the application (not yet eligible: no
employment on file), records the labour contract (the queue turns to eligible), issues the
permit, endorses (签注) another resident's permit that is due, and prints the new permit. Every
page passes the desk checks; the database outcome is asserted at the end.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright.sync_api import expect

from population import roles
from population.models import OfficerRegion
from residence_permit.demo import demo_permits_due
from residence_permit.models import (
    PermitApplication,
    PermitEvent,
    PermitStatus,
    ResidencePermit,
    ResidenceRegistration,
)
from tests.e2e.desk_checks import follow, page_ok

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Jz-2024-居住证-e2e!"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def choose(page, field: str, typed: str, option: str) -> None:
    """Pick a value in an admin autocomplete by typing what the officer knows."""
    page.click(f"span[aria-labelledby='select2-id_{field}-container']")
    page.fill(".select2-container--open .select2-search__field", typed)
    page.locator(".select2-results__option", has_text=option).first.click()


def run_action(page, row_text: str, action: str) -> None:
    row = page.locator("#result_list tbody tr", has_text=row_text)
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", action)
    follow(page, lambda: page.click("button[name=index]"))


def test_residence_permit_from_registration_to_print(
    page, live_server, admin_login, make_person, village, city
):
    today = timezone.localdate()
    # Someone whose permit falls due for 签注 now (as the demo city has them).
    due_holder = make_person(name="王待签", born=dt.date(1985, 3, 1), residence_region=village)
    assert demo_permits_due(today).startswith("1 ")
    migrant = make_person(name="赵新居", born=dt.date(1992, 5, 6))

    user = User.objects.create_user(
        "permit_e2e", password=PASSWORD, is_staff=True, first_name="窗口民警"
    )
    user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    OfficerRegion.objects.create(user=user, region=city)

    admin_login("permit_e2e", PASSWORD)
    page_ok(page)

    # 1. Residence registration: the person by citizen ID, the village by name.
    follow(page, lambda: page.get_by_role("link", name="居住登记").first.click())
    follow(page, lambda: page.locator(".object-tools a.addlink").click())
    choose(page, "person", migrant.citizen_id, "赵新居")
    page.fill("#id_address", "凤城路88号")
    choose(page, "region", "凤城街道第一", "凤城街道第一社区")
    page.select_option("#id_basis", "job")
    # A date in the future is refused on the date field; the form keeps the rest.
    page.fill("#id_start_date", str(today + dt.timedelta(days=3)))
    follow(page, lambda: page.click("input[name=_save]"))
    expect(page.locator(".field-start_date .errorlist")).to_contain_text("日期不能晚于今天")
    expect(page.locator("#id_address")).to_have_value("凤城路88号")
    assert not ResidenceRegistration.objects.filter(person=migrant).exists()
    page.screenshot(path=str(SHOTS / "residence-registration-error.png"), full_page=True)
    page.fill("#id_start_date", str(dt.date(today.year - 1, 1, 15)))
    follow(page, lambda: page.click("input[name=_save]"))
    expect(page.locator(".messagelist")).to_contain_text("赵新居")

    # 2. The application: no employment on file yet, so the queue shows it not eligible.
    follow(page, lambda: page.get_by_role("link", name="首页").click())
    follow(page, lambda: page.get_by_role("link", name="居住证申领", exact=True).click())
    follow(page, lambda: page.locator(".object-tools a.addlink").click())
    choose(page, "person", "赵新居", "赵新居")
    page.fill("#id_submitted_on", str(today))
    follow(page, lambda: page.click("input[name=_save]"))
    row = page.locator("#result_list tbody tr", has_text="赵新居")
    expect(row.locator("img[alt=False]")).to_have_count(1)

    # 3. The labour contract arrives: recorded as a fact, and the queue turns to eligible.
    follow(page, lambda: page.get_by_role("link", name="首页").click())
    follow(page, lambda: page.get_by_role("link", name="人员事实（居住证）").first.click())
    follow(page, lambda: page.locator(".object-tools a.addlink").click())
    choose(page, "person", migrant.citizen_id, "赵新居")
    page.select_option("#id_kind", "employment")
    page.fill("#id_start_date", str(dt.date(today.year - 1, 1, 15)))
    page.fill("#id_evidence", "劳动合同 2024-088")
    page.fill("#id_source_name", "清城区人社局")
    follow(page, lambda: page.click("input[name=_save]"))
    follow(page, lambda: page.get_by_role("link", name="首页").click())
    follow(page, lambda: page.get_by_role("link", name="队列：待审核申领").first.click())
    row = page.locator("#result_list tbody tr", has_text="赵新居")
    expect(row.locator("img[alt=True]")).to_have_count(1)

    # 4. Issue.
    run_action(page, "赵新居", "issue")
    expect(page.locator(".messagelist")).to_contain_text("签发居住证：已办理 1 件")

    # 5. 签注 of the permit that is due, from the queue of permits due.
    follow(page, lambda: page.get_by_role("link", name="首页").click())
    follow(page, lambda: page.locator("#content-main tr.model-endorsementduequeue th a").click())
    run_action(page, "王待签", "endorse")
    expect(page.locator(".messagelist")).to_contain_text("签注：已办理 1 件")

    # 6. Print the new permit from the permit list.
    follow(page, lambda: page.get_by_role("link", name="首页").click())
    follow(page, lambda: page.locator("#content-main tr.model-residencepermit th a").click())
    row = page.locator("#result_list tbody tr", has_text="赵新居")
    follow(page, lambda: row.get_by_role("link", name="打印").click())
    expect(page.locator("body")).to_contain_text("赵新居")
    page_ok(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "residence-permit-print.png"), full_page=True)

    # The database: one registration, one issued application, an active permit, a 签注.
    assert ResidenceRegistration.objects.filter(person=migrant, address="凤城路88号").count() == 1
    application = PermitApplication.objects.get(person=migrant)
    assert application.status == "issued"
    permit = ResidencePermit.objects.get(person=migrant)
    assert permit.status == PermitStatus.ACTIVE and permit.issue_date == today
    endorsed = ResidencePermit.objects.get(person=due_holder)
    assert PermitEvent.objects.filter(permit=endorsed, kind="endorse", on=today).count() == 1
