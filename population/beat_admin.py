"""The system's periodic tasks (django-celery-beat) are a superuser's to edit and run.

Supervisors may still read the schedules (their roles keep view permission), but adding,
changing, deleting, enabling or running a task from the admin needs a superuser: a schedule
runs for the whole city, beyond any one supervisor's area.
"""

from __future__ import annotations

from django.contrib import admin

# What each scheduled task does, as officers read it (the list and page show no code names).
TASK_LABELS = {
    "population.sync.inbox_scan": "扫描部门交换目录，接收新文件",
    "population.stats_snapshot_month": "月末统计快照",
    "population.stats_recount_check": "统计快照复核",
    "population.audit_seal": "查阅日志封存",
    "population.audit_verify": "查阅日志完整性校验",
    "population.regions_load_reference": "载入区划代码",
    "registry.quality_detect": "数据质量检测",
    "residence_permit.permits_daily": "居住证每日处理（到期、签注提醒）",
    "residence_permit.points_recompute_changed": "积分重算",
    "settlement.transfer_permits_expire": "准迁证到期处理",
}


def _moment(value, empty: str) -> str:
    from django.utils import timezone

    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else empty


class ReadableScheduleMixin:
    """For readers who are not superusers: the task, its schedule and arguments in Chinese words
    (django-celery-beat's own labels and the task's code name are English)."""

    READER_FIELDSETS = (
        (None, {"fields": ("name", "task_label", "enabled_label", "description")}),
        ("计划", {"fields": ("schedule_label", "start_label", "last_run_label", "one_off_label")}),
    )

    @admin.display(description="启用")
    def enabled_label(self, obj) -> str:
        return "是" if obj.enabled else "否（已停用）"

    @admin.display(description="开始时间")
    def start_label(self, obj) -> str:
        return _moment(obj.start_time, "立即")

    @admin.display(description="上次运行")
    def last_run_label(self, obj) -> str:
        return _moment(obj.last_run_at, "尚未运行")

    @admin.display(description="只运行一次")
    def one_off_label(self, obj) -> str:
        return "是" if obj.one_off else "否"

    @admin.display(description="任务")
    def task_label(self, obj) -> str:
        return TASK_LABELS.get(obj.task, "系统任务")

    @admin.display(description="计划")
    def schedule_label(self, obj) -> str:
        return str(obj.scheduler) if obj.scheduler is not None else "—"

    def get_list_display(self, request):
        if request.user.is_superuser:
            return super().get_list_display(request)
        return ("name", "task_label", "enabled", "schedule_label", "last_run_at")

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return super().get_list_filter(request)
        return ("enabled",)

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        return self.READER_FIELDSETS

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return [f for _, options in self.READER_FIELDSETS for f in options["fields"]]


class SuperuserOnlyChangesMixin:
    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def get_actions(self, request):
        return super().get_actions(request) if request.user.is_superuser else {}


def beat_admins_restrict(site: admin.AdminSite = admin.site) -> None:
    """Re-register django-celery-beat's admins with superuser-only changes and actions."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "django_celery_beat":
            continue
        if isinstance(model_admin, SuperuserOnlyChangesMixin):
            continue
        bases = (SuperuserOnlyChangesMixin, type(model_admin))
        if model._meta.model_name == "periodictask":
            bases = (ReadableScheduleMixin, *bases)
        restricted = type(f"SuperuserOnly{type(model_admin).__name__}", bases, {})
        site.unregister(model)
        site.register(model, restricted)
