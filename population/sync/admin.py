"""Admin of the department sync: batches with progress and quarantine, facts, follow-ups."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from population.admin_utils import LargeTableAdmin, ReadOnlyAdminMixin
from population.audit import access_log_admin_read
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, ListReadAuditMixin
from population.sync import selectors, services
from population.sync.models import (
    Batch,
    BatchEvent,
    BatchStatus,
    Fact,
    FollowUp,
    FollowUpStatus,
)

FULL_ID_PERMISSION = "population.view_full_citizen_id"


class RequeueForm(forms.Form):
    reason = forms.CharField(
        label="重新处理原因",
        max_length=services.REQUEUE_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=(
            "必填，记入批次事件日志和变更历史。例如：工作进程所在服务器宕机，批次停在处理中。"
            "批次从最后提交的分块之后继续，已写入的数据不会重复。"
        ),
        error_messages={"required": "请填写重新处理的原因", "max_length": "原因不能超过500个字"},
    )

    def clean_reason(self):
        reason = " ".join(self.cleaned_data["reason"].split())
        if not reason:
            raise forms.ValidationError("请填写重新处理的原因")
        return reason


class BatchEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BatchEvent
    fields = ("at", "kind", "worker", "previous_worker", "actor", "reason", "committed_line")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "批次事件日志（领取、租约过期、人工重新处理）"

    def has_view_permission(self, request, obj=None):
        # Part of the batch's page: whoever may view the batch reads its events.
        return request.user.has_perm("sync.view_batch")


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "department",
        "feed",
        "filename",
        "source",
        "status",
        "progress",
        "received",
        "applied",
        "unchanged",
        "rejected",
        "attempts",
        "received_at",
    )
    list_filter = ("status", "department", "feed", "source")
    search_fields = ("filename", "content_sha256")
    actions = ["requeue"]
    inlines = [BatchEventInline]
    exclude = ("content",)
    readonly_fields = (
        "department",
        "feed",
        "schema_version",
        "fmt",
        "encoding",
        "source",
        "filename",
        "content_sha256",
        "size_bytes",
        "submitted_by",
        "status",
        "progress",
        "attempts",
        "requeues",
        "lease_owner",
        "lease_expires_at",
        "last_error",
        "last_line",
        "committed_line",
        "staged_at",
        "received",
        "applied",
        "unchanged",
        "rejected",
        "received_at",
        "started_at",
        "finished_at",
        "rejected_download",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def has_requeue_permission(self, request):
        return request.user.has_perm("sync.requeue_batch")

    @admin.display(description="进度")
    def progress(self, obj):
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', obj.percent, obj.percent
        )

    @admin.display(description="拒收行")
    def rejected_download(self, obj):
        if not obj.rejected:
            return "无"
        url = reverse("admin:sync_batch_rejected_csv", args=[obj.pk])
        return format_html('<a href="{}">下载拒收行（CSV，{}行）</a>', url, obj.rejected)

    @admin.action(
        description="重新处理所选批次（须填写原因）",
        permissions=["requeue"],
    )
    def requeue(self, request, queryset):
        """Requeue unfinished batches (quarantined, or stuck in processing) with a reason.

        The first submission shows a page asking for the reason; the second (``apply``)
        requeues. Finished batches are refused by name; the reason goes to each batch's event
        log and history.
        """
        batches = list(queryset.defer("content").order_by("pk"))
        form = RequeueForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = []
            for batch in batches:
                try:
                    services.batch_requeue(
                        batch=batch, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                    done.append(str(batch.pk))
                except DomainError as exc:
                    self.message_user(request, exc.message_zh, messages.ERROR)
            if done:
                self.message_user(
                    request,
                    f"已重新处理{len(done)}个批次（批次{'、'.join(done)}），"
                    f"原因：{form.cleaned_data['reason']}",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "重新处理部门数据批次",
            "opts": self.model._meta,
            "form": form,
            "batches": batches,
            "finished": [b for b in batches if b.status == BatchStatus.DONE],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/sync/batch/requeue.html", context)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/rejected.csv",
                self.admin_site.admin_view(self.rejected_csv_view),
                name="sync_batch_rejected_csv",
            ),
            *super().get_urls(),
        ]

    def rejected_csv_view(self, request, object_id: int):
        """Rejected rows with line numbers and reasons; IDs masked without the full-ID right."""
        batch = Batch.objects.defer("content").filter(pk=object_id).first()
        if batch is None or not self.has_view_permission(request, batch):
            raise PermissionDenied
        full = request.user.has_perm(FULL_ID_PERMISSION)
        access_log_admin_read(
            request,
            channel="admin.sync_rejected_rows",
            person_ids=[],
            fields=["raw", "citizen_id" if full else "masked_citizen_id"],
        )
        response = StreamingHttpResponse(
            selectors.rejected_rows_csv(batch=batch, full_citizen_id=full),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-rejected.csv"'
        return response


@admin.register(Fact)
class FactAdmin(ReadOnlyAdminMixin, ListReadAuditMixin, JurisdictionAdminMixin, LargeTableAdmin):
    audit_channel = "admin.sync_fact"

    list_display = ("kind", "record_no", "department", "masked_id", "event_date", "valid_from",
                    "valid_to", "months", "amount", "batch_id", "updated_at")  # fmt: skip
    list_filter = ("kind", "department")
    search_fields = ("=record_no",)
    raw_id_fields = ("person", "counterpart", "batch")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person")

    @admin.display(description="公民身份号码")
    def masked_id(self, obj):
        return mask_citizen_id(obj.person.citizen_id)


@admin.register(FollowUp)
class FollowUpAdmin(
    ReadOnlyAdminMixin, ListReadAuditMixin, JurisdictionAdminMixin, admin.ModelAdmin
):
    audit_channel = "admin.sync_followup"

    list_display = ("id", "kind", "status", "masked_id", "department", "field",
                    "reported_value", "library_value", "batch_id", "created_at")  # fmt: skip
    list_filter = ("status", "kind", "department")
    actions = ["close"]
    raw_id_fields = ("person", "fact", "batch", "closed_by")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person")

    @admin.display(description="公民身份号码")
    def masked_id(self, obj):
        return mask_citizen_id(obj.person.citizen_id)

    @admin.action(description="将所选事项标记为已处理", permissions=["view"])
    def close(self, request, queryset):
        if not request.user.has_perm("sync.change_followup"):
            raise PermissionDenied
        closed = 0
        for item in queryset.filter(status=FollowUpStatus.OPEN):
            services.followup_close(followup=item, actor=request.user, note="管理后台批量处理")
            closed += 1
        self.message_user(request, f"已处理{closed}项")
