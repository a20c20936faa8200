"""失败任务: the dead Celery tasks, read-only; the operator reruns the job (admin beat page or
its command) once the cause is fixed, and may delete the row then."""

from __future__ import annotations

from django.contrib import admin

from ops.models import TaskFailure


@admin.register(TaskFailure)
class TaskFailureAdmin(admin.ModelAdmin):
    list_display = ["failed_at", "task_name", "exception", "retries", "worker"]
    list_filter = ["task_name", "exception"]
    search_fields = ["task_name", "task_id"]
    date_hierarchy = "failed_at"
    readonly_fields = [f.name for f in TaskFailure._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
