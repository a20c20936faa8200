"""Admin for data quality: the review queue, merges with supervisor approval, and figures."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from population.admin_utils import LargeTableAdmin, ReadOnlyAdminMixin, ServiceSaveAdminMixin
from population.audit import access_log_admin_read
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin
from population.models import Person, RegionLevel
from registry.quality import services
from registry.quality.detectors import detector_hook
from registry.quality.display import as_table
from registry.quality.models import (
    IssueKind,
    IssueStatus,
    MergeStatus,
    PersonMerge,
    QualityIssue,
    QualityRun,
    RunStatus,
)
from registry.quality.selectors import quality_figures
from registry.quality.tasks import quality_detect_task

FIGURES_PERMISSION = "registry.view_quality_figures"
# Running the checks over the whole population is a supervisor's decision (as approving merges).
RUN_PERMISSION = services.APPROVE_MERGE_PERMISSION
DUPLICATE_KINDS = {
    IssueKind.DUPLICATE_SAME_NAME,
    IssueKind.DUPLICATE_NORMALISED,
    IssueKind.DUPLICATE_HOMOPHONE,
    IssueKind.REGISTERED_TWICE,
}


def _person_label(person: Person) -> str:
    return f"{person.name}（{mask_citizen_id(person.citizen_id)}，{person.get_status_display()}）"


class IssueDecisionForm(forms.ModelForm):
    decision = forms.ChoiceField(
        label="处理",
        required=False,
        choices=[("", "（不变）"), *IssueStatus.choices],
        help_text="确认：问题属实待处理；排除：并非问题（证据不变不再提示）；解决：已处理完毕",
    )
    note = forms.CharField(
        label="处理说明", required=False, max_length=200, help_text="排除或解决时必填"
    )

    class Meta:
        model = QualityIssue
        fields: list[str] = []


@admin.register(QualityIssue)
class QualityIssueAdmin(ServiceSaveAdminMixin, JurisdictionAdminMixin, LargeTableAdmin):
    """数据质量问题: the review queue, scoped like the person pages: an issue is in the queue of
    an officer whose area holds one of its persons or its household."""

    form = IssueDecisionForm
    change_list_template = "admin/registry/qualityissue/change_list.html"
    list_display = [
        "kind",
        "status",
        "person_count",
        "household",
        "found_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["household", "decided_by"]
    ordering = ["-id"]
    actions = ["confirm_selected"]
    readonly_fields = [
        "kind",
        "status",
        "persons_display",
        "household",
        "evidence_display",
        "found_at",
        "evidence_changed_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "merge_link",
    ]

    @admin.display(description="涉及人数")
    def person_count(self, obj: QualityIssue) -> int:
        return len(obj.person_ids)

    def _persons(self, obj: QualityIssue) -> list[Person]:
        return list(Person.objects.filter(pk__in=obj.person_ids).order_by("pk"))

    @admin.display(description="涉及人员")
    def persons_display(self, obj: QualityIssue) -> str:
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a></li>',
                (
                    (reverse("admin:population_person_change", args=[p.pk]), _person_label(p))
                    for p in self._persons(obj)
                ),
            ),
        )

    @admin.display(description="证据")
    def evidence_display(self, obj: QualityIssue) -> str:
        return as_table(obj.evidence)

    @admin.display(description="合并")
    def merge_link(self, obj: QualityIssue) -> str:
        if obj.kind not in DUPLICATE_KINDS or len(obj.person_ids) < 2:
            return "—"
        first, second = sorted(obj.person_ids)[:2]
        url = reverse("admin:registry_personmerge_add")
        return format_html(
            '<a href="{}?issue={}&survivor={}&duplicate={}">提出合并申请</a>'
            "（默认保留号码较早录入的记录，可在申请页调整）",
            url,
            obj.pk,
            first,
            second,
        )

    def get_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        # 提出合并申请 only for those who may propose one (the auditor reads, never proposes).
        merge_admin = self.admin_site._registry.get(PersonMerge)
        if merge_admin is None or not merge_admin.has_add_permission(request):
            fields.remove("merge_link")
        if obj is not None and self.has_change_permission(request, obj):
            fields += ["decision", "note"]
        return fields

    def has_add_permission(self, request):
        return False

    @admin.action(description="确认所选问题属实（待处理）", permissions=["change"])
    def confirm_selected(self, request, queryset):
        done = 0
        for issue in queryset:
            try:
                services.quality_issue_decide(
                    issue=issue, status=IssueStatus.CONFIRMED, actor=request.user
                )
                done += 1
            except DomainError as exc:
                messages.warning(request, f"{issue}：{exc.message_zh}")
        if done:
            messages.success(request, f"已确认{done}个问题")

    def save_by_service(self, request, obj, form, change):
        decision = form.cleaned_data.get("decision")
        if decision:
            services.quality_issue_decide(
                issue=obj, status=decision, actor=request.user, note=form.cleaned_data["note"]
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        issue = getattr(response, "context_data", {}).get("original")
        if issue is not None and issue.person_ids:
            access_log_admin_read(
                request,
                channel="admin.quality_issue",
                person_ids=issue.person_ids,
                fields=["name", "masked_citizen_id", "status", "evidence"],
            )
        return response

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_checks": request.user.has_perm(RUN_PERMISSION),
            "last_run": QualityRun.objects.order_by("-started_at").first(),
        }
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        """运行检测: a supervisor starts the detectors (Celery; eager without a broker) and
        is taken to the run's page, which shows each detector as it finishes."""
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:registry_qualityissue_changelist"))
        running = QualityRun.objects.filter(status=RunStatus.RUNNING).first()
        if running is not None:
            messages.warning(request, "已有数据质量检测正在运行，请等待其完成")
            return HttpResponseRedirect(
                reverse("admin:registry_qualityrun_change", args=[running.pk])
            )
        before = QualityRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            quality_detect_task.delay()
        except DomainError as exc:
            messages.error(request, exc.message_zh)
            return HttpResponseRedirect(reverse("admin:registry_qualityissue_changelist"))
        run = QualityRun.objects.filter(pk__gt=before).order_by("pk").first()
        if run is None:  # queued for a worker: the list of runs shows it once it starts
            messages.success(request, "已提交数据质量检测，开始运行后在此列表中显示进度")
            return HttpResponseRedirect(reverse("admin:registry_qualityrun_changelist"))
        messages.success(request, "数据质量检测已运行，新发现的问题已列入核查队列")
        return HttpResponseRedirect(reverse("admin:registry_qualityrun_change", args=[run.pk]))

    def get_urls(self):
        return [
            path(
                "run/",
                self.admin_site.admin_view(self.run_view),
                name="registry_quality_run",
            ),
            path(
                "figures/",
                self.admin_site.admin_view(self.figures_view),
                name="registry_quality_figures",
            ),
            *super().get_urls(),
        ]

    def figures_view(self, request):
        """采集率 and 准确率 per county or township (no personal data on the page)."""
        if not request.user.has_perm(FIGURES_PERMISSION):
            raise PermissionDenied
        level = (
            RegionLevel.TOWNSHIP if request.GET.get("level") == "township" else RegionLevel.COUNTY
        )
        within = request.GET.get("within", "").strip()
        if within and not (within.isdigit() and len(within) <= 9):
            messages.warning(request, "区划代码前缀应为数字（至多9位）")
            within = ""
        rows = quality_figures(level=level, within=within)
        total = sum(r.persons for r in rows)
        context = {
            **self.admin_site.each_context(request),
            "title": "数据质量指标（采集率、准确率）",
            "opts": self.opts,
            "rows": rows,
            "level": "township" if level == RegionLevel.TOWNSHIP else "county",
            "within": within,
            "total": total,
            "total_complete": sum(r.complete for r in rows),
            "total_accurate": sum(r.accurate for r in rows),
            "last_run": QualityRun.objects.order_by("-started_at").first(),
        }
        return TemplateResponse(request, "admin/registry/quality_figures.html", context)


class MergeProposalForm(forms.ModelForm):
    class Meta:
        model = PersonMerge
        fields = ["duplicate", "survivor", "issue", "reason"]
        help_texts = {
            "duplicate": "将被注销的重复记录（号码保留，查询时指向保留人员）",
            "survivor": "保留的记录，重复记录的户籍关系转入此人",
            "reason": "例如：同一人持新旧两个号码重复登记",
        }
        # The issue comes with the queue's 提出合并申请 link; no list of every issue to pick from.
        widgets = {"issue": forms.HiddenInput}


class MergeDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="审批结论", choices=[("approve", "批准合并"), ("reject", "驳回")]
    )
    note = forms.CharField(label="审批意见", max_length=200, required=False, help_text="驳回时必填")


@admin.register(PersonMerge)
class PersonMergeAdmin(ServiceSaveAdminMixin, JurisdictionAdminMixin, LargeTableAdmin):
    """重复人员合并: officers propose, supervisors approve or reject (never their own). Scoped:
    both records must lie in the user's area."""

    form = MergeProposalForm
    list_display = [
        "duplicate_label",
        "survivor_label",
        "status",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status"]
    list_select_related = ["duplicate", "survivor", "proposed_by", "decided_by"]
    # Persons by what officers know (ID, name, pinyin); the issue comes from the queue's link.
    autocomplete_fields = ["duplicate", "survivor"]
    ordering = ["-id"]

    @admin.display(description="重复人员（注销）")
    def duplicate_label(self, obj: PersonMerge) -> str:
        return _person_label(obj.duplicate)

    @admin.display(description="保留人员")
    def survivor_label(self, obj: PersonMerge) -> str:
        return _person_label(obj.survivor)

    @admin.display(description="合并结果")
    def details_display(self, obj: PersonMerge) -> str:
        return as_table(obj.details)

    @admin.display(description="审批")
    def decide_link(self, obj: PersonMerge) -> str:
        if obj.status != MergeStatus.PROPOSED:
            return obj.get_status_display()
        url = reverse("admin:registry_personmerge_decide", args=[obj.pk])
        return format_html('<a href="{}">审批此申请</a>', url)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["duplicate", "survivor", "issue", "reason"]
        return [
            "duplicate_label",
            "survivor_label",
            "issue",
            "reason",
            "status",
            "proposed_by",
            "proposed_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "details_display",
            # 审批此申请 only for an approver other than the proposer (decide_view's rule).
            *(["decide_link"] if self._may_decide(request, obj) else []),
        ]

    @staticmethod
    def _may_decide(request, obj: PersonMerge) -> bool:
        return (
            request.user.has_perm(services.APPROVE_MERGE_PERMISSION)
            and obj.proposed_by_id != request.user.pk
        )

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through the approval page, which calls the service

    def save_by_service(self, request, obj, form, change):
        return services.person_merge_propose(
            survivor=form.cleaned_data["survivor"],
            duplicate=form.cleaned_data["duplicate"],
            issue=form.cleaned_data["issue"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        merge = getattr(response, "context_data", {}).get("original")
        if merge is not None:
            access_log_admin_read(
                request,
                channel="admin.person_merge",
                person_ids=[merge.survivor_id, merge.duplicate_id],
                fields=["name", "masked_citizen_id", "status"],
            )
        return response

    def get_urls(self):
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="registry_personmerge_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, object_id: int):
        """审批: a supervisor other than the proposer approves or rejects."""
        if not request.user.has_perm(services.APPROVE_MERGE_PERMISSION):
            raise PermissionDenied
        merge = (
            self.get_queryset(request)
            .select_related("survivor", "duplicate", "proposed_by")
            .filter(pk=object_id)
            .first()
        )
        if merge is None:
            raise Http404
        form = MergeDecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data["decision"] == "approve":
                    services.person_merge_approve(
                        merge=merge, actor=request.user, note=form.cleaned_data["note"]
                    )
                    messages.success(request, "已批准：重复记录已注销，户籍关系已转入保留人员")
                else:
                    services.person_merge_reject(
                        merge=merge, actor=request.user, note=form.cleaned_data["note"]
                    )
                    messages.success(request, "已驳回")
            except DomainError as exc:
                form.add_error(None, exc.message_zh)
            else:
                return HttpResponseRedirect(
                    reverse("admin:registry_personmerge_change", args=[merge.pk])
                )
        access_log_admin_read(
            request,
            channel="admin.person_merge_decide",
            person_ids=[merge.survivor_id, merge.duplicate_id],
            fields=["name", "masked_citizen_id", "status"],
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "审批重复人员合并",
            "merge": merge,
            "duplicate": _person_label(merge.duplicate),
            "survivor": _person_label(merge.survivor),
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/registry/personmerge/decide.html", context)


RESULT_LABELS = {
    "found": "发现",
    "new": "新增",
    "reopened": "重新打开",
    "updated": "证据更新",
    "resolved": "已消除",
}


@admin.register(QualityRun)
class QualityRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """数据质量检测运行: progress detector by detector (each commits on its own)."""

    change_form_template = "admin/registry/qualityrun/change_form.html"
    list_display = ["started_at", "finished_at", "status", "progress"]
    list_filter = ["status"]
    readonly_fields = ["started_at", "finished_at", "status", "progress", "results_table", "error"]
    fields = readonly_fields

    @admin.display(description="进度")
    def progress(self, obj: QualityRun) -> str:
        return f"已完成 {len(obj.results)} / {len(obj.detectors)} 项检测"

    @admin.display(description="各项检测结果")
    def results_table(self, obj: QualityRun) -> str:
        rows = []
        for name in obj.detectors:
            detector = detector_hook.get(name)
            label = detector.label if detector else "其他检测"
            result = obj.results.get(name)
            counts = (
                "，".join(f"{RESULT_LABELS.get(k, '其他')} {v}" for k, v in result.items())
                if result
                else ("运行中" if obj.status == RunStatus.RUNNING else "未运行")
            )
            rows.append((label, counts))
        return format_html(
            "<table><thead><tr><th>检测项</th><th>结果</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows),
        )
