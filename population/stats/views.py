"""Statistician dashboard and report downloads in the admin (统计人员).

Charts are SVG drawn on the server (matplotlib), so the page loads no script from anywhere.
Bad requests (unknown area, month in the future, no snapshot) get the bilingual message and
400/404, never a stack trace.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from population.errors import DomainError, NotFound
from population.models import Region
from population.stats.reports import report_charts, report_csv, report_data, report_pdf, report_xlsx

PERMISSION = "population.view_statistics"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _params(request) -> tuple[str, str]:
    region = request.GET.get("region") or (
        Region.objects.filter(level=2).order_by("code").values_list("code", flat=True).first() or ""
    )
    month = request.GET.get("month") or timezone.localdate().strftime("%Y-%m")
    return region.strip(), month.strip()


def _error(request, exc: DomainError, region: str, month: str):
    status = 404 if isinstance(exc, NotFound) else 400
    context = {
        **admin.site.each_context(request),
        "title": "城镇化统计",
        "error": exc,
        "region": region,
        "month": month,
    }
    return TemplateResponse(request, "stats/dashboard.html", context, status=status)


def dashboard(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    region, month = _params(request)
    try:
        data = report_data(region_code=region, month=month)
    except DomainError as exc:
        return _error(request, exc, region, month)
    context = {
        **admin.site.each_context(request),
        "title": f"城镇化统计：{data['area']['region_name']}",
        "data": data,
        "charts": report_charts(data),
        "region": region,
        "month": data["area"]["month"],
    }
    return TemplateResponse(request, "stats/dashboard.html", context)


def export(request, fmt: str):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    region, month = _params(request)
    try:
        data = report_data(region_code=region, month=month)
    except DomainError as exc:
        return _error(request, exc, region, month)
    body = {"csv": report_csv, "xlsx": report_xlsx, "pdf": report_pdf}[fmt](data)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    name = f"urbanization-{data['area']['region_code']}-{data['area']['month']}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
