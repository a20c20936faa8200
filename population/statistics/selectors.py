"""Reads of the statistics, as plain dicts (for reports, the dashboard and the department API).

Every selector validates its input and raises bilingual errors: unknown region (NotFound),
month in the future (DomainError ``month_in_future``), no snapshot for the month (NotFound
``no_data``). ``suppress=True`` is for figures given to departments: counts below
``POPBASE_STATS_SMALL_COUNT`` become "<N" and rates built on them become None.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings

from population.errors import NotFound
from population.models import Region
from population.regions import code_prefix
from population.statistics.compute import COUNT_FIELDS
from population.statistics.models import AGE_GROUPS, StatSnapshot
from population.statistics.services import month_parse

DEFINITIONS = [
    ("户籍人口城镇化率", "户籍地在城镇（城乡分类代码111–123）的户籍人口 ÷ 全部户籍人口。"),
    (
        "常住人口城镇化率",
        "居住在城镇的常住人口 ÷ 全部常住人口；常住人口指在本地居住半年以上者（不论户籍），"
        "不含外出半年以上的户籍人口；无居住记录的户籍人口按户籍地计。",
    ),
    ("差距", "常住人口城镇化率 − 户籍人口城镇化率（百分点）。"),
    ("人户分离", "居住地乡级单位与户籍地乡级单位不同，或无本市户籍的常住人口，按居住地统计。"),
    (
        "城乡分类年度",
        "采用统计月份所在年度的城乡分类代码；该年无代码时用此前最近年度；从无代码按乡村计。",
    ),
]
AGE_LABELS = [f"{5 * i}-{5 * i + 4}" for i in range(AGE_GROUPS - 1)] + ["100+"]


def small_count_threshold() -> int:
    return int(getattr(settings, "POPBASE_STATS_SMALL_COUNT", 5))


def unknown_region(code: str) -> NotFound:
    """The one answer for an area that is unknown, not a statistical area, or out of scope."""
    return NotFound(
        f"未知的统计区域：{code}（应为市、县或乡级区划代码）",
        f"unknown area {code!r} (expected a city, county or township code)",
        code="unknown_region",
    )


def region_get(code: str, *, within: tuple[str, ...] | list[str] = ()) -> Region:
    """A city, county or township by code. With ``within`` (prefixes of a department client's
    regions), an area not wholly inside them answers exactly as an unknown one."""
    region = Region.objects.filter(code=str(code).strip()).first()
    if region is None or region.level not in (2, 3, 4):
        raise unknown_region(code)
    if within and not any(code_prefix(region.code).startswith(code_prefix(p)) for p in within):
        raise unknown_region(code)
    return region


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 4) if whole else None


def _figures(row: StatSnapshot, region: Region, suppress: bool) -> dict[str, Any]:
    counts = {field: getattr(row, field) for field in COUNT_FIELDS}
    registered_rate = _rate(counts["registered_urban"], counts["registered_total"])
    resident_rate = _rate(counts["resident_urban"], counts["resident_total"])
    out: dict[str, Any] = {
        "region_code": region.code,
        "region_name": region.name,
        "level": region.level,
        "month": row.month.strftime("%Y-%m"),
        "data_date": row.month.isoformat(),
        "source": row.source,
        "counts": counts,
        "registered_rate": registered_rate,
        "resident_rate": resident_rate,
        "gap": (
            round(resident_rate - registered_rate, 4)
            if registered_rate is not None and resident_rate is not None
            else None
        ),
        "sex_ratio": _rate(counts["resident_male"], counts["resident_female"]),
        "suppressed": suppress,
    }
    if suppress:
        limit = small_count_threshold()
        small = {k for k, v in counts.items() if 0 < v < limit}
        out["counts"] = {k: (f"<{limit}" if k in small else v) for k, v in counts.items()}
        if small & {"registered_urban", "registered_total"}:
            out["registered_rate"] = out["gap"] = None
        if small & {"resident_urban", "resident_total"}:
            out["resident_rate"] = out["gap"] = None
        if small & {"resident_male", "resident_female"}:
            out["sex_ratio"] = None
    return out


def _snapshot(region: Region, month: dt.date) -> StatSnapshot:
    row = StatSnapshot.objects.filter(month=month, region_code=region.code).first()
    if row is None:
        raise NotFound(
            f"{region.name} {month:%Y-%m} 暂无统计数据（尚未生成快照）",
            f"no statistics for {region.code} in {month:%Y-%m} (no snapshot taken)",
            code="no_data",
        )
    return row


def urbanization(
    *,
    region_code: str,
    month: str | dt.date,
    suppress: bool = False,
    within: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Both rates, the gap, sex ratio and the counts of one area at one month end.

    ``within``: the area must lie inside these code prefixes (a client's regions), or it is
    answered as unknown."""
    end = month_parse(month)
    region = region_get(region_code, within=within)
    return _figures(_snapshot(region, end), region, suppress)


def urbanization_series(*, region_code: str, suppress: bool = False) -> list[dict[str, Any]]:
    """Every stored month of one area, oldest first."""
    region = region_get(region_code)
    rows = StatSnapshot.objects.filter(region_code=region.code).order_by("month")
    return [_figures(row, region, suppress) for row in rows]


def urbanization_by_area(
    *, region_code: str, month: str | dt.date, suppress: bool = False
) -> list[dict[str, Any]]:
    """The area's direct sub-areas (a city's counties, a county's townships) at one month end."""
    end = month_parse(month)
    region = region_get(region_code)
    _snapshot(region, end)
    children = {r.code: r for r in Region.objects.filter(parent=region, level__lte=4)}
    rows = StatSnapshot.objects.filter(month=end, region_code__in=children).order_by("region_code")
    return [_figures(row, children[row.region_code], suppress) for row in rows]


def pyramid(
    *, region_code: str, month: str | dt.date, population: str = "resident", suppress: bool = False
) -> dict[str, Any]:
    """Counts by 5-year age group and sex (1 male, 2 female) for 'resident' or 'registered'."""
    end = month_parse(month)
    region = region_get(region_code)
    row = _snapshot(region, end)
    data = row.pyramid[population]
    male, female = list(data["1"]), list(data["2"])
    if suppress:
        limit = small_count_threshold()
        male, female = (
            [f"<{limit}" if 0 < v < limit else v for v in side] for side in (male, female)
        )
    return {
        "region_code": region.code,
        "month": end.strftime("%Y-%m"),
        "population": population,
        "groups": AGE_LABELS,
        "male": male,
        "female": female,
    }
