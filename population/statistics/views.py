"""Statistician dashboard and report downloads in the admin (统计人员).

The page opens on the user's own area and the latest month that has a snapshot; the region is
chosen by name among the city, county and township units inside the user's area, the month
among those with a snapshot. Charts are SVG drawn on the server (matplotlib), so the page loads
no script from anywhere. Bad requests (an area outside the user's, a month in the future, no
snapshot) get the Chinese message and 400/404, never a stack trace.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse

from population.errors import DomainError, NotFound
from population.jurisdiction import area_of, code_range_q
from population.models import Region
from population.statistics.models import SnapshotSource, StatSnapshot
from population.statistics.reports import (
    report_charts,
    report_csv,
    report_data,
    report_pdf,
    report_xlsx,
)

PERMISSION = "statistics.view_statistics"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
STAT_LEVELS = (2, 3, 4)  # city, county, township
LEVEL_INDENT = {2: "", 3: "　", 4: "　　"}


def regions_for(user) -> list[Region]:
    """The statistical areas (city, county, township) inside the user's area, in tree order."""
    area = area_of(user)
    regions = Region.objects.filter(level__in=STAT_LEVELS)
    if not area.everything:
        # A unit inside the area, or a larger unit the area is exactly (a county officer's county).
        regions = regions.filter(code_range_q("code", area))
    return list(regions.order_by("code").only("code", "name", "level"))


def _months(region_code: str) -> list[str]:
    months = (
        StatSnapshot.objects.filter(region_code=region_code)
        .order_by("-month")
        .values_list("month", flat=True)
    )
    return [m.strftime("%Y-%m") for m in months]


def _params(request) -> tuple[str, str, list[Region]]:
    """The region and month asked for, or the defaults: the user's widest area that has a
    snapshot, and its latest snapshot month."""
    regions = regions_for(request.user)
    codes = [r.code for r in regions]
    region = (request.GET.get("region") or "").strip()
    if not region:
        with_data = set(
            StatSnapshot.objects.filter(region_code__in=codes)
            .values_list("region_code", flat=True)
            .distinct()
        )
        widest = sorted(
            (r for r in regions if r.code in with_data), key=lambda r: (r.level, r.code)
        ) or sorted(regions, key=lambda r: (r.level, r.code))
        region = widest[0].code if widest else ""
    elif region not in codes:
        raise NotFound(
            "该区域不在您的辖区内，或不是市、县、乡级统计区域",
            f"area {region!r} is outside your jurisdiction or not a statistical area",
            code="unknown_region",
        )
    month = (request.GET.get("month") or "").strip()
    if not month:
        months = _months(region)
        month = months[0] if months else ""
    if not region or not month:
        raise NotFound(
            "您的辖区内暂无统计数据（尚未生成月末快照）",
            "no statistics in your area yet (no snapshot taken)",
            code="no_data",
        )
    return region, month, regions


def _choices(regions: list[Region]) -> list[tuple[str, str]]:
    return [(r.code, f"{LEVEL_INDENT.get(r.level, '')}{r.name}") for r in regions]


def _error(request, exc: DomainError, region: str, month: str):
    status = 404 if isinstance(exc, NotFound) else 400
    regions = regions_for(request.user)
    context = {
        **admin.site.each_context(request),
        "title": "城镇化统计",
        "error": exc,
        "region": region,
        "month": month,
        "region_choices": _choices(regions),
        "month_choices": _months(region) if region else [],
    }
    return TemplateResponse(request, "statistics/dashboard.html", context, status=status)


def dashboard(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    region, month = "", ""
    try:
        region, month, regions = _params(request)
        data = report_data(region_code=region, month=month)
    except DomainError as exc:
        return _error(request, exc, region, month)
    allowed = {r.code for r in regions}
    sub_areas = [{**f, "linked": f["region_code"] in allowed} for f in data["sub_areas"]]
    context = {
        **admin.site.each_context(request),
        "title": f"城镇化统计：{data['area']['region_name']}",
        "data": data,
        "sub_areas": sub_areas,
        "source_label": SnapshotSource(data["area"]["source"]).label,
        "charts": report_charts(data),
        "region": region,
        "month": data["area"]["month"],
        "region_choices": _choices(regions),
        "month_choices": _months(region),
    }
    return TemplateResponse(request, "statistics/dashboard.html", context)


def export(request, fmt: str):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    if fmt not in CONTENT_TYPES:
        return _error(
            request,
            NotFound("不支持的下载格式", f"unknown format {fmt!r}", code="bad_format"),
            "",
            "",
        )
    region, month = "", ""
    try:
        region, month, _ = _params(request)
        data = report_data(region_code=region, month=month)
    except DomainError as exc:
        return _error(request, exc, region, month)
    body = {"csv": report_csv, "xlsx": report_xlsx, "pdf": report_pdf}[fmt](data)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    name = f"urbanization-{data['area']['region_code']}-{data['area']['month']}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
