"""End to end: a registration officer finds a person by citizen ID in the real admin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from population.identity import mask_citizen_id

IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

pytestmark = [
    pytest.mark.browser,
    # The live server needs committed data; the flush afterwards empties the tables and
    # population.replay puts the roles back for the tests that follow.
    pytest.mark.django_db(transaction=True),
]


def test_officer_finds_person_by_citizen_id(
    page, live_server, admin_login, officer, village, make_person, assign_area, settings
):
    assign_area(officer, village.parent)  # the officer's station covers 凤城街道
    person = make_person(name="李秀英", male=False, hukou_region=village)
    for name in ("王建国", "陈美华"):
        make_person(name=name, hukou_region=village)
    # Lists of personal data count exactly only up to this many rows (10,000 by default).
    settings.ADMIN_EXACT_COUNT_LIMIT = 2
    full_id = person.citizen_id
    masked = mask_citizen_id(full_id)
    assert masked == full_id[:6] + "*" * 8 + full_id[-4:]

    # Log in: the admin is Chinese whatever the browser asks for (Playwright sends en-US).
    admin_login(officer.username, officer.raw_password)
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#logout-form button")).to_have_text("注销")

    # The whole area's list is longer than the cap: it says so instead of counting every row.
    page.goto(f"{live_server.url}/admin/population/person/")
    expect(page.locator("p.paginator")).to_contain_text("超过 2 条人员记录，请用搜索或筛选缩小范围")
    expect(page.locator("p.paginator .showall")).to_have_count(0)
    expect(page.locator("#changelist-search .quiet")).to_have_count(0)  # no "2 条结果"
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / "person-list-capped.png"), full_page=True)

    # The person list shows numbers masked only (found here by name); a narrow list counts.
    page.fill("#searchbar", "李秀英")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("p.paginator")).to_have_text("1 人员")
    expect(rows.first.locator("th.field-masked_id")).to_have_text(masked)
    assert masked in page.content()
    assert full_id not in page.content()

    # Search by the full citizen ID: the record opens directly, at an address that carries the
    # surrogate key and not the number.
    page.fill("#searchbar", full_id)
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(rf"/admin/population/person/{person.pk}/change/$"))
    assert full_id not in page.url

    # The officer role may see the full number on the record.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".field-name .readonly")).to_have_text("李秀英")
    expect(page.locator(".field-shown_citizen_id .readonly")).to_have_text(full_id)
    expect(page.locator(".field-masked_id")).to_have_count(0)


def test_wrong_password_is_refused_in_chinese(page, live_server, admin_login, officer):
    admin_login(officer.username, officer.raw_password + "x")

    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".errornote")).to_contain_text("请输入一个正确的工作人员账户")
    expect(page.locator("#login-form [type=submit]")).to_have_value("登录")
    # No session: no session cookie, and the admin index sends the browser back to log in.
    assert not [c for c in page.context.cookies() if c["name"] == "sessionid"]
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.locator("#login-form")).to_be_visible()
