"""The 统计 entry on the admin index for statisticians and supervisors (view_statistics)."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import redirect

from population.admin_utils import ReadOnlyAdminMixin
from population.statistics.models import StatisticsDesk
from population.statistics.views import PERMISSION


@admin.register(StatisticsDesk)
class StatisticsDeskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """No list of its own: the entry leads to the dashboard at /admin/statistics/."""

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(PERMISSION)

    def changelist_view(self, request, extra_context=None):
        return redirect("stats_dashboard")
