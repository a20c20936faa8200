"""Dead tasks: Celery tasks that finally failed, for an operator to see (admin: 失败任务)."""

from __future__ import annotations

from django.db import models


class TaskFailure(models.Model):
    """One task run that failed for good (retries spent, time limit, or an error not retried).
    Written by the worker (``ops.signals``); arguments and messages have citizen IDs masked."""

    task_id = models.CharField("任务ID", max_length=64, db_index=True)
    task_name = models.CharField("任务", max_length=200, db_index=True)
    arguments = models.TextField("参数", blank=True)
    exception = models.CharField("异常类型", max_length=200)
    message = models.TextField("异常信息", blank=True)
    traceback = models.TextField("调用栈", blank=True)
    retries = models.PositiveIntegerField("已重试次数", default=0)
    worker = models.CharField("工作进程", max_length=200, blank=True)
    failed_at = models.DateTimeField("失败时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "失败任务"
        verbose_name_plural = "失败任务"
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id}"
