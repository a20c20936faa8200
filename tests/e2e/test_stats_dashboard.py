"""End to end: a statistician opens the urbanization dashboard in headless Chromium."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from playwright.sync_api import expect

from population.roles import STATISTICIAN
from population.stats.services import snapshot_take
from tests.stats.conftest import small_city, small_city_regions  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "Tj-2024-统计-e2e!"


@pytest.mark.usefixtures("small_city")
def test_statistician_sees_rates_charts_and_a_clear_error(page, live_server, admin_login):
    group, _ = Group.objects.get_or_create(name=STATISTICIAN)
    group.permissions.add(Permission.objects.get(codename="view_statistics"))
    user = User.objects.create_user("stat_e2e", password=PASSWORD, is_staff=True)
    user.groups.add(group)
    month = timezone.localdate().strftime("%Y-%m")
    snapshot_take(month=month)

    admin_login("stat_e2e", PASSWORD)
    page.goto(f"{live_server.url}/admin/statistics/?region=441800000000&month={month}")
    expect(page.locator("#stats-date")).to_contain_text("数据日期（月末）")
    rows = page.locator("#stats-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("清城区")
    expect(rows.nth(1)).to_contain_text("50.00")
    expect(rows.nth(1)).to_contain_text("80.00")
    # The three server-drawn charts load and have a size (no script, no CDN).
    for chart in ("#chart-over-time", "#chart-by-area", "#chart-pyramid"):
        expect(page.locator(chart)).to_be_visible()
        assert page.eval_on_selector(chart, "img => img.complete && img.naturalWidth > 100")

    # Drill down to a county by its link.
    rows.nth(1).locator("a").click()
    expect(page.locator("#stats-table tbody tr").first).to_contain_text("清城区")

    # A month in the future: the bilingual message, not a stack trace.
    page.goto(f"{live_server.url}/admin/statistics/?region=441800000000&month=2999-01")
    expect(page.locator("#stats-error")).to_contain_text("尚未到来")
    expect(page.locator("#stats-error")).to_contain_text("is in the future")
