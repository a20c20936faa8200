"""Reports: XLSX with native charts (openpyxl), CSV with BOM, PDF with Chinese text, dashboard."""

from __future__ import annotations

import io
import subprocess
import zipfile

import openpyxl
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone

from population.models import Region
from population.roles import STATISTICIAN
from population.statistics.extra import Figure, figure_hook
from population.statistics.reports import report_csv, report_data, report_pdf, report_xlsx
from population.statistics.services import snapshot_take

pytestmark = pytest.mark.django_db


def month() -> str:
    return timezone.localdate().strftime("%Y-%m")


@pytest.fixture
def data(small_city):
    # A hostile name: a spreadsheet must show it as text, never run it.
    Region.objects.filter(code="441803000000").update(name='=HYPERLINK("http://x","清新区")')
    snapshot_take(month=month())
    return report_data(region_code="441800000000", month=month())


def test_xlsx_opens_with_openpyxl_and_has_its_charts(data):
    body = report_xlsx(data)
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["汇总", "时间序列", "年龄结构", "口径说明"]
    summary = book["汇总"]
    assert summary["A5"].value == "441800000000"
    assert summary["E5"].value == round(700 / 21, 4)
    assert summary["H6"].value == 80.0
    # counts are whole numbers (#,##0), rates two decimals (0.00); 人户分离 is a count
    separated = summary.cell(row=5, column=10)
    assert separated.number_format == "#,##0"
    assert summary["E5"].number_format == "0.00"
    hostile = summary["B7"]
    assert hostile.data_type == "s" and hostile.value.startswith("'=HYPERLINK")
    assert str(book["汇总"]["A2"].value).endswith(data["generated_at"])
    assert data["data_date"] in book["口径说明"]["B1"].value
    assert book["口径说明"]["A2"].value == "户籍人口城镇化率"
    # Native charts: one drawing part per chart sheet, each with a chart of the right kind.
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        charts = sorted(n for n in archive.namelist() if n.startswith("xl/charts/chart"))
        kinds = [archive.read(n).decode() for n in charts]
    assert len(charts) == 3
    assert any("<c:barChart>" in k and '<c:barDir val="col"/>' in k for k in kinds)
    assert any("<c:lineChart>" in k for k in kinds)
    assert any('<c:barDir val="bar"/>' in k for k in kinds)


def test_csv_has_a_bom_the_date_the_definitions_and_the_permit_and_settlement_figures(data):
    body = report_csv(data)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert f"数据日期 {data['data_date']}" in text
    # ="…" keeps the 12-digit code as text in Excel (not 4.418E+11)
    assert '"=""441802000000""",清城区,14,7,50.0,20,16,80.0,30.0' in text
    assert "'=HYPERLINK" in text
    # the residence-permit and settlement apps register their figures: none in this city yet
    assert "居住证签发数,0" in text
    assert "有效居住证数,0" in text
    assert "分渠道落户数,0" in text
    assert "待接入 pending" not in text


def test_a_declared_figure_is_pending_and_a_computed_one_shows_its_value(data):
    # Declared by its app without a computation: pending.
    figure_hook.register(Figure("hukou_books_printed", "户口簿印制数", "books"))
    try:
        text = report_csv(report_data(region_code="441800000000", month=month())).decode(
            "utf-8-sig"
        )
    finally:
        figure_hook.unregister("hukou_books_printed")
    assert "户口簿印制数,待接入 pending" in text
    figure_hook.register(
        Figure("hukou_books_printed", "户口簿印制数", "books", lambda c, m: {"A": 2, "B": 1})
    )
    try:
        text = report_csv(report_data(region_code="441800000000", month=month())).decode(
            "utf-8-sig"
        )
    finally:
        figure_hook.unregister("hukou_books_printed")
    assert "户口簿印制数,A 2；B 1" in text


def test_a_figure_whose_app_is_not_installed_is_absent(data):
    """Only registered figures are listed: none is named by the statistics themselves."""
    taken = figure_hook.get("permits_active")
    assert taken is not None
    figure_hook.unregister("permits_active")
    try:
        text = report_csv(report_data(region_code="441800000000", month=month())).decode(
            "utf-8-sig"
        )
    finally:
        figure_hook.register(taken)
    assert "有效居住证数" not in text
    assert "居住证签发数,0" in text


def _run(*args: str) -> str:
    """A poppler tool on the report (fixed paths and arguments from this test only)."""
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout  # noqa: S603


def test_pdf_renders_to_pages_with_chinese_text(data, tmp_path):
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(report_pdf(data))
    _run("/usr/bin/pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page"))
    assert sorted(p.name for p in tmp_path.glob("page*.png"))  # at least one page image
    text = _run("/usr/bin/pdftotext", str(pdf), "-")
    assert "城镇化统计：清远市" in text and "户籍人口城镇化率" in text and data["data_date"] in text
    assert f"{700 / 21:.2f}" in text  # 33.33, not 33.3333
    assert f"{700 / 21:.4f}" not in text
    fonts = _run("/usr/bin/pdffonts", str(pdf))
    assert "emb" in fonts.splitlines()[0] and " yes " in fonts  # the CJK font is embedded


@pytest.fixture
def statistician(db, assign_area):
    user = User.objects.create_user("stat", password="pw-统计-1", is_staff=True)
    assign_area(user, Region.objects.get(code="441800000000"))
    # A transactional test elsewhere may have flushed the migration's rows: re-grant, idempotently.
    group, _ = Group.objects.get_or_create(name=STATISTICIAN)
    group.permissions.add(Permission.objects.get(codename="view_statistics"))
    user.groups.add(group)
    return user


def test_dashboard_and_downloads_for_the_statistician(client, data, statistician):
    client.force_login(statistician)
    page = client.get("/admin/statistics/", {"region": "441800000000", "month": month()})
    assert page.status_code == 200
    html = page.content.decode()
    assert "数据日期（月末）：" + data["data_date"] in html
    assert html.count("data:image/svg+xml;base64,") == 3
    for fmt, magic in (("xlsx", b"PK"), ("csv", b"\xef\xbb\xbf"), ("pdf", b"%PDF")):
        response = client.get(
            f"/admin/statistics/export.{fmt}", {"region": "441800000000", "month": month()}
        )
        assert response.status_code == 200 and response.content.startswith(magic)


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"region": "441899000000"}, 404, "不在您的辖区内"),
        ({"region": "441900000000"}, 404, "不在您的辖区内"),  # another city: outside the area
        ({"month": "2999-01"}, 400, "尚未到来"),
        ({"month": "2001-01"}, 404, "暂无统计数据"),
        ({"month": "13/2020"}, 400, "月份格式错误"),
    ],
)
def test_dashboard_bad_requests_are_clear(client, data, statistician, params, status, text):
    client.force_login(statistician)
    response = client.get(
        "/admin/statistics/", {"region": "441800000000", "month": month(), **params}
    )
    assert response.status_code == status
    body = response.content.decode()
    assert text in body
    assert "outside your" not in body and "expected" not in body  # Chinese only on the page


def test_dashboard_opens_on_the_users_area_and_latest_snapshot(client, small_city, assign_area):
    """No parameters: the widest area of the user that has a snapshot, its latest month;
    the region is a select of names inside the area, the month a select of snapshot months."""
    county = Region.objects.get(code="441802000000")
    snapshot_take(month=month())
    user = User.objects.create_user("county_stat", password="x", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=STATISTICIAN)[0])
    user.user_permissions.add(Permission.objects.get(codename="view_statistics"))
    assign_area(user, county)
    client.force_login(user)
    html = client.get("/admin/statistics/").content.decode()
    assert "城镇化统计：清城区" in html
    assert f'<option value="{month()}" selected>' in html
    assert '<option value="441802000000" selected>' in html
    assert 'value="441800000000"' not in html  # the city lies outside a county statistician
    assert client.get("/admin/statistics/", {"region": "441800000000"}).status_code == 404


def test_the_index_has_a_statistics_entry_that_leads_to_the_dashboard(client, data, statistician):
    client.force_login(statistician)
    index = client.get("/admin/").content.decode()
    assert "统计：城镇化率与报表下载" in index
    response = client.get("/admin/statistics/statisticsdesk/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/statistics/"


def test_other_staff_may_not_see_statistics(client, data):
    user = User.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/statistics/").status_code == 403
    assert client.get("/admin/statistics/export.csv").status_code == 403
