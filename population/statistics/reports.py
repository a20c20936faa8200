"""Reports for statisticians: CSV (UTF-8 with BOM), XLSX (XlsxWriter, native charts), PDF.

Every report carries the definitions and the data date (the month end of the snapshot).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from population.exports import CsvDigitCode, SafeCsvWriter, cell_safe
from population.statistics import charts, selectors
from population.statistics.extra import extra_figures
from population.statistics.services import month_parse

COLUMNS = [
    ("region_code", "区划代码"),
    ("region_name", "名称"),
    ("registered_total", "户籍人口"),
    ("registered_urban", "户籍城镇人口"),
    ("registered_rate", "户籍人口城镇化率(%)"),
    ("resident_total", "常住人口"),
    ("resident_urban", "常住城镇人口"),
    ("resident_rate", "常住人口城镇化率(%)"),
    ("gap", "差距(百分点)"),
    ("separated", "人户分离"),
    ("registered_away", "户在人不在"),
    ("sex_ratio", "性别比(女=100)"),
    ("resident_unclassified", "无城乡分类(常住)"),
]
# Columns holding a percentage or a ratio (two decimals); every other number is a count.
DECIMAL_KEYS = frozenset({"registered_rate", "resident_rate", "gap", "sex_ratio"})


safe_text = cell_safe  # the one rule of population.exports


def _row(figures: dict[str, Any]) -> list[Any]:
    flat = {**figures, **figures["counts"]}
    return [flat.get(key) for key, _ in COLUMNS]


def _display_row(figures: dict[str, Any]) -> list[str]:
    """A row as printed: rates with two decimals (42.20), counts with separators (12,345)."""
    out = []
    for (key, _), value in zip(COLUMNS, _row(figures), strict=True):
        if value is None:
            out.append("—")
        elif isinstance(value, str):
            out.append(value)
        elif key in DECIMAL_KEYS:
            out.append(f"{value:.2f}")
        else:
            out.append(f"{value:,}")
    return out


def report_data(*, region_code: str, month: str, suppress: bool = False) -> dict[str, Any]:
    """Everything a report shows, as plain values (raises the selectors' bilingual errors)."""
    end = month_parse(month)
    area = selectors.urbanization(region_code=region_code, month=end, suppress=suppress)
    return {
        "area": area,
        "sub_areas": selectors.urbanization_by_area(
            region_code=region_code, month=end, suppress=suppress
        ),
        "series": [
            s
            for s in selectors.urbanization_series(region_code=region_code, suppress=suppress)
            if s["month"] <= area["month"]
        ],
        "pyramid": selectors.pyramid(region_code=region_code, month=end, suppress=suppress),
        "definitions": selectors.DEFINITIONS,
        "extra": extra_figures(region_code=region_code, month=end),
        "data_date": area["data_date"],
        "generated_at": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
    }


def report_csv(data: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow([f"城镇化统计 {data['area']['region_name']}", f"数据日期 {data['data_date']}"])
    writer.writerow([label for _, label in COLUMNS])
    for figures in [data["area"], *data["sub_areas"]]:
        row = _row(figures)
        # ="441800000000": Excel keeps the 12-digit code as text instead of 4.418E+11.
        row[0] = CsvDigitCode(figures["region_code"])
        writer.writerow(row)
    writer.writerow([])
    for name, text in data["definitions"]:
        writer.writerow([name, text])
    for extra in data["extra"]:
        writer.writerow(
            [
                extra["title_zh"],
                "待接入 pending" if extra["status"] == "pending" else extra["value"],
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def report_xlsx(data: dict[str, Any]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    pct = book.add_format({"num_format": "0.00", "border": 1})
    num = book.add_format({"num_format": "#,##0", "border": 1})
    text = book.add_format({"border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})

    sheet = book.add_worksheet("汇总")
    sheet.write_string(0, 0, f"城镇化统计：{data['area']['region_name']}", title)
    sheet.write_string(
        1, 0, f"数据日期（月末）：{data['data_date']}　生成时间：{data['generated_at']}"
    )
    for col, (_, label) in enumerate(COLUMNS):
        sheet.write_string(3, col, label, head)
    rows = [data["area"], *data["sub_areas"]]
    for r, figures in enumerate(rows, start=4):
        for col, ((key, _), value) in enumerate(zip(COLUMNS, _row(figures), strict=True)):
            if isinstance(value, str) or value is None:
                sheet.write_string(r, col, safe_text(value or ""), text)
            else:
                sheet.write_number(r, col, value, pct if key in DECIMAL_KEYS else num)
    sheet.set_column(0, 0, 14)
    sheet.set_column(1, 1, 16)
    sheet.set_column(2, len(COLUMNS) - 1, 12)
    sheet.freeze_panes(4, 2)
    if data["sub_areas"]:
        chart = book.add_chart({"type": "column"})
        first, last = 5, 4 + len(data["sub_areas"])
        for col, name in ((4, "户籍人口城镇化率"), (7, "常住人口城镇化率")):
            chart.add_series(
                {
                    "name": name,
                    "categories": ["汇总", first, 1, last, 1],
                    "values": ["汇总", first, col, last, col],
                }
            )
        chart.set_title({"name": "分地区城镇化率"})
        chart.set_y_axis({"name": "%"})
        sheet.insert_chart(last + 2, 0, chart, {"x_scale": 1.5})

    series = book.add_worksheet("时间序列")
    for col, label in enumerate(
        ["月份", "户籍人口城镇化率(%)", "常住人口城镇化率(%)", "差距(百分点)"]
    ):
        series.write_string(0, col, label, head)
    for r, s in enumerate(data["series"], start=1):
        series.write_string(r, 0, s["month"], text)
        for col, key in enumerate(("registered_rate", "resident_rate", "gap"), start=1):
            if isinstance(s[key], (int, float)):
                series.write_number(r, col, s[key], pct)
            else:
                series.write_string(r, col, "", text)
    line = book.add_chart({"type": "line"})
    n = len(data["series"])
    for col, name in ((1, "户籍人口城镇化率"), (2, "常住人口城镇化率")):
        line.add_series(
            {
                "name": name,
                "categories": ["时间序列", 1, 0, n, 0],
                "values": ["时间序列", 1, col, n, col],
                "marker": {"type": "circle"},
            }
        )
    line.set_title({"name": "城镇化率（按月）"})
    series.insert_chart(1, 5, line)

    pyr = book.add_worksheet("年龄结构")
    for col, label in enumerate(["年龄组", "男", "女", "男(作图用负值)"]):
        pyr.write_string(0, col, label, head)
    p = data["pyramid"]
    for r, (group, male, female) in enumerate(
        zip(p["groups"], p["male"], p["female"], strict=True), 1
    ):
        pyr.write_string(r, 0, group, text)
        for col, value in ((1, male), (2, female)):
            (pyr.write_number if isinstance(value, int) else pyr.write_string)(r, col, value, num)
        pyr.write_number(r, 3, -male if isinstance(male, int) else 0, num)
    bar = book.add_chart({"type": "bar"})
    rows_n = len(p["groups"])
    bar.add_series(
        {
            "name": "男",
            "categories": ["年龄结构", 1, 0, rows_n, 0],
            "values": ["年龄结构", 1, 3, rows_n, 3],
            "gap": 10,
        }
    )
    bar.add_series(
        {
            "name": "女",
            "categories": ["年龄结构", 1, 0, rows_n, 0],
            "values": ["年龄结构", 1, 2, rows_n, 2],
            "overlap": 100,
        }
    )
    bar.set_title({"name": "人口金字塔（常住人口）"})
    bar.set_y_axis({"reverse": False})
    pyr.insert_chart(1, 5, bar, {"y_scale": 1.5})

    notes = book.add_worksheet("口径说明")
    notes.set_column(0, 0, 18)
    notes.set_column(1, 1, 90)
    notes.write_string(0, 0, "数据日期", head)
    notes.write_string(0, 1, data["data_date"])
    for r, (name, body) in enumerate(data["definitions"], start=1):
        notes.write_string(r, 0, name, head)
        notes.write_string(r, 1, body, wrap)
    r = len(data["definitions"]) + 2
    for extra in data["extra"]:
        notes.write_string(r, 0, extra["title_zh"], head)
        notes.write_string(
            r,
            1,
            "待接入（相关模块尚未提供） pending"
            if extra["status"] == "pending"
            else str(extra["value"]),
        )
        r += 1
    book.close()
    return buffer.getvalue()


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def report_charts(data: dict[str, Any]) -> dict[str, str]:
    """The three charts as SVG data URIs (the dashboard and the PDF show the same ones)."""
    out = {"pyramid": _data_uri(charts.pyramid_chart(data["pyramid"]))}
    numeric = [s for s in data["series"] if isinstance(s["resident_rate"], (int, float))]
    if numeric:
        out["over_time"] = _data_uri(charts.rates_over_time(numeric))
    if data["sub_areas"]:
        out["by_area"] = _data_uri(charts.rates_by_area(data["sub_areas"]))
    return out


def report_pdf(data: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    html = render_to_string(
        "statistics/report_pdf.html",
        {
            **data,
            "columns": COLUMNS,
            "rows": [_display_row(f) for f in [data["area"], *data["sub_areas"]]],
            "charts": report_charts(data),
        },
    )
    return HTML(string=html).write_pdf()
