"""A supervisor reads the city's points policy as tables of indicators, scores and tiers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from population import roles
from residence_permit import points
from tests.e2e.desk_checks import follow, page_ok

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Jf-2026-积分政策-e2e!"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def test_points_policy_reads_as_tables(page, live_server, admin_login):
    points.policies_load_shipped()
    user = User.objects.create_user(
        "policy_e2e", password=PASSWORD, is_staff=True, first_name="户籍主管"
    )
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))

    admin_login("policy_e2e", PASSWORD)
    page_ok(page)
    follow(page, lambda: page.get_by_role("link", name="积分政策").first.click())
    follow(page, lambda: page.get_by_role("link", name="440100").click())

    rows = page.locator("table.points-policy tbody tr")
    residence = rows.filter(has_text="连续居住年限")
    assert residence.locator("td").all_inner_texts() == [
        "连续居住年限",
        "按连续居住年限",
        "连续居住每满一年3分，最高30分",
    ]
    education = rows.filter(has_text="文化程度").locator("td").nth(2).inner_text()
    assert education.startswith("高中（中专）10分、大专30分、本科50分")
    insurance = rows.filter(has_text="缴纳社保").locator("td").nth(2).inner_text()
    assert insurance == "缴纳社会保险累计每满12计3分，最高30分"
    assert rows.filter(has_text="申报积分提供虚假材料").locator("td").nth(1).inner_text() == "-50分"
    tier = rows.filter(has_text="第二阶梯").locator("td").all_inner_texts()
    assert tier == ["第二阶梯", "60分", "住房保障服务"]
    body = page.locator("body").inner_text()
    assert "穗府〔2016〕3号，广州市人民政府，2016年2月29日印发" in body
    assert "最低分值：85分" in body
    assert "同分排序：积分高者优先；社保缴费月数多者优先" in body
    assert "居住证号码小者优先" in body
    # The stored rules never show as JSON.
    assert '{"' not in body and '"code"' not in body
    page.screenshot(path=str(SHOTS / "points-policy.png"), full_page=True)
