"""End to end: a statistician goes from the admin index to a downloaded XLSX and PDF.

Logs in, then only clicks and chooses; every page passes the desk checks (status < 400, Chinese
only, no Python repr), and the downloaded files are opened and read.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from playwright.sync_api import expect

from population.models import OfficerRegion, Region
from population.roles import STATISTICIAN
from population.statistics.services import snapshot_take
from tests.e2e.desk_checks import follow, page_ok
from tests.statistics.conftest import small_city, small_city_regions  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "Tj-2024-统计-e2e!"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.mark.usefixtures("small_city")
def test_statistician_from_the_index_to_a_downloaded_xlsx_and_pdf(
    page, live_server, admin_login, tmp_path
):
    group, _ = Group.objects.get_or_create(name=STATISTICIAN)
    group.permissions.add(Permission.objects.get(codename="view_statistics"))
    user = User.objects.create_user(
        "stat_e2e", password=PASSWORD, is_staff=True, first_name="统计员"
    )
    user.groups.add(group)
    OfficerRegion.objects.create(user=user, region=Region.objects.get(code="441800000000"))
    month = timezone.localdate().strftime("%Y-%m")
    snapshot_take(month=month)

    admin_login("stat_e2e", PASSWORD)
    page_ok(page)
    # The index's 统计 entry opens the dashboard on the user's city and the latest month.
    follow(page, lambda: page.get_by_role("link", name="统计：城镇化率与报表下载").click())
    expect(page.locator("h1, #content h1").first).to_be_visible()
    expect(page.locator("#stats-date")).to_contain_text("数据日期（月末）")
    expect(page.locator("#stats-date")).to_contain_text("当时记录")
    rows = page.locator("#stats-table tbody tr")
    expect(rows.first).to_contain_text("清远市")
    expect(rows.nth(1)).to_contain_text("50.00")
    for chart in ("#chart-over-time", "#chart-by-area", "#chart-pyramid"):
        expect(page.locator(chart)).to_be_visible()

    # The region is chosen by name.
    page.select_option("#stats-region", label="　清城区")
    follow(page, lambda: page.click("#stats-submit"))
    expect(page.locator("#stats-table tbody tr").first).to_contain_text("清城区")
    expect(page.locator("#stats-region option:checked")).to_have_text("　清城区")

    # Back to the city through the select, then download both reports by clicking.
    page.select_option("#stats-region", label="清远市")
    follow(page, lambda: page.click("#stats-submit"))
    with page.expect_download() as xlsx_download:
        page.click("#download-xlsx")
    xlsx = tmp_path / "report.xlsx"
    xlsx_download.value.save_as(xlsx)
    book = openpyxl.load_workbook(io.BytesIO(xlsx.read_bytes()))
    summary = book["汇总"]
    assert summary["A5"].value == "441800000000"
    assert summary["B5"].value == "清远市"
    assert summary["J5"].number_format == "#,##0"  # 人户分离 is a count, not 0.00

    with page.expect_download() as pdf_download:
        page.click("#download-pdf")
    pdf = tmp_path / "report.pdf"
    pdf_download.value.save_as(pdf)
    text = subprocess.run(  # noqa: S603 - fixed tool, our own file
        ["/usr/bin/pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "城镇化统计：清远市" in text
    assert "50.00" in text

    page_ok(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "statistics-dashboard.png"), full_page=True)
