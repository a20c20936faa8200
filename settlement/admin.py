"""Admin for settlement officers (Chinese UI): queues, eligibility panel, transition buttons.

Every write goes through ``settlement.services``; a refusal becomes a message and changes
nothing. Lists show masked citizen IDs; every page that shows applicants logs the read.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from population.admin_utils import LargeTableAdmin
from population.audit import access_log_admin_read
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, records_within
from population.models import Person
from registry.models import Household
from settlement import selectors, services
from settlement.conditions import leaves
from settlement.models import Application, ApplicationMember, ApplicationTransition, RuleSet

FULL_ID_PERMISSION = "population.view_full_citizen_id"
MARKS = {"met": "✔ 符合", "unmet": "✘ 不符合", "missing": "？ 缺少证明"}

# transition method → (button label, service, what the form asks)
ACTIONS = {
    "mark_accepted": ("受理", "application_accept", ()),
    "mark_under_review": ("开始审核调查", "application_review_start", ()),
    "mark_returned": ("退回补正", "application_return", ("missing",)),
    "mark_approved": ("审批通过", "application_approve", ()),
    "mark_permit_issued": ("签发准迁证", "application_issue_permit", ("household",)),
    "mark_completed": ("办理落户", "application_complete", ()),
    "mark_rejected": ("不予落户", "application_reject", ("reason",)),
    "mark_withdrawn": ("撤回", "application_withdraw", ()),
}


def _person_ids(citizen_ids) -> list[int]:
    return list(
        Person.objects.filter(citizen_id__in=list(citizen_ids)).values_list("pk", flat=True)
    )


def eligibility_panel(eligibility: dict) -> str:
    if not eligibility:
        return "—（提交后评估）"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                leaf["zh"],
                MARKS[leaf["status"]],
                leaf["fact"],
                "未提供" if leaf["value"] is None else leaf["value"],
            )
            for leaf in leaves(eligibility["conditions"])
        ),
    )
    return format_html(
        "<p><strong>{}（{}）：{}</strong></p><table><thead><tr><th>条件</th><th>结论</th>"
        "<th>事实</th><th>取值</th></tr></thead><tbody>{}</tbody></table>",
        eligibility["name"],
        eligibility["source"],
        MARKS[eligibility["status"]],
        rows,
    )


class QueueFilter(admin.SimpleListFilter):
    title = "工作队列"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("acceptor", "待受理"),
            ("reviewer", "待审核调查"),
            ("approver", "待我审批"),
            ("issuer", "待发证/待落户"),
            ("overdue", "已超期"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "overdue":
            from django.utils import timezone

            ids = selectors.applications_overdue(on=timezone.localdate()).values("pk")
            return queryset.filter(pk__in=ids)
        if value in selectors.ROLE_QUEUES:
            ids = selectors.applications_queue(role=value, user=request.user).values("pk")
            return queryset.filter(pk__in=ids)
        return queryset


class MemberInline(admin.TabularInline):
    model = ApplicationMember
    extra = 0
    fields = ["name", "masked_id", "kind", "relation", "person"]
    readonly_fields = fields
    verbose_name_plural = "随迁人员"

    @admin.display(description="身份号码")
    def masked_id(self, obj):
        return mask_citizen_id(obj.citizen_id)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TransitionInline(admin.TabularInline):
    model = ApplicationTransition
    extra = 0
    fields = ["at", "from_status", "to_status", "officer", "comment"]
    readonly_fields = fields
    verbose_name_plural = "流转记录"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionForm(forms.Form):
    comment = forms.CharField(label="意见", required=False, max_length=500)
    missing = forms.CharField(
        label="需补正的材料（每行一项）", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    reason = forms.CharField(label="不予落户理由", required=False, max_length=300)
    household = forms.ModelChoiceField(
        label="迁入户", required=False, queryset=Household.objects.filter(closed_on__isnull=True)
    )


@admin.register(Application)
class ApplicationAdmin(JurisdictionAdminMixin, LargeTableAdmin):
    audit_channel = "admin.settlement"
    list_display = ["pk", "applicant", "city", "channel", "target", "status", "step_due"]
    list_filter = [QueueFilter, "status", "rule_set__city"]
    inlines = [MemberInline, TransitionInline]
    change_form_template = "admin/settlement/application_change_form.html"
    fields = [
        "applicant_full",
        "rule_set",
        "channel",
        "target",
        "status",
        "submitted_on",
        "step_due",
        "eligibility_panel",
        "missing_items",
        "accepted_by",
        "approved_by",
        "household",
        "permit_number",
        "permit_valid_until",
        "rejection_reason",
        "completed_on",
    ]
    readonly_fields = fields

    @admin.display(description="申请人")
    def applicant(self, obj):
        return f"{obj.name}（{mask_citizen_id(obj.citizen_id)}）"

    @admin.display(description="申请人")
    def applicant_full(self, obj):
        return f"{obj.name}（{obj.citizen_id}）"

    def get_fields(self, request, obj=None):
        # The full number only for roles allowed to see it; others get the masked one.
        if request.user.has_perm(FULL_ID_PERMISSION):
            return self.fields
        return ["applicant", *self.fields[1:]]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="城市")
    def city(self, obj):
        return obj.rule_set.city

    @admin.display(description="资格审查")
    def eligibility_panel(self, obj):
        return eligibility_panel(obj.eligibility)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rule_set")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and changelist.result_list:
            access_log_admin_read(
                request,
                channel="admin.settlement_list",
                person_ids=_person_ids(a.citizen_id for a in changelist.result_list),
                fields=["name", "citizen_id(masked)", "channel", "status"],
            )
        return response

    def allowed_actions(self, request, obj) -> list[tuple[str, str]]:
        """Only the buttons for transitions allowed now and to this user."""
        out = []
        for transition in obj.get_available_status_transitions():
            method = transition.name
            if method not in ACTIONS or method == "mark_submitted":
                continue
            if method == "mark_approved" and (
                not request.user.has_perm("settlement.decide_application")
                or obj.accepted_by_id == request.user.pk
            ):
                continue
            out.append((method, ACTIONS[method][0]))
        return out

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = extra_context or {}
        if obj is not None:
            extra["settlement_actions"] = self.allowed_actions(request, obj)
        return super().change_view(request, object_id, form_url, extra)

    def audit_fields(self, request, obj):
        return [str(f) for f in self.fields] + ["members"]

    def get_urls(self):
        return [
            path(
                "<int:object_id>/act/<str:method>/",
                self.admin_site.admin_view(self.act_view),
                name="settlement_application_act",
            ),
            path(
                "targets/",
                self.admin_site.admin_view(self.targets_view),
                name="settlement_targets",
            ),
            *super().get_urls(),
        ]

    def act_view(self, request, object_id: int, method: str):
        obj = self.get_object(request, str(object_id))
        if obj is None or method not in ACTIONS:
            raise Http404
        if not request.user.has_perm("settlement.change_application"):
            raise PermissionDenied
        label, service_name, asks = ACTIONS[method]
        back = reverse("admin:settlement_application_change", args=[obj.pk])
        form = ActionForm(request.POST or None)
        # Destinations inside the officer's area only (the service refuses others, too).
        households = form.fields["household"]
        households.queryset = records_within(request.user, households.queryset)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            kwargs = {"application": obj, "actor": request.user}
            if method == "mark_rejected":
                kwargs["reason"] = data["reason"]
            else:
                kwargs["comment"] = data["comment"]
            if "missing" in asks:
                kwargs["missing"] = data["missing"].splitlines()
            if "household" in asks:
                if data["household"] is None:
                    messages.error(request, "请选择迁入户")
                    return HttpResponseRedirect(request.path)
                kwargs["household"] = data["household"]
            try:
                getattr(services, service_name)(**kwargs)
            except DomainError as exc:
                messages.error(request, f"{label}未办理：{exc.message_zh}")
            else:
                messages.success(request, f"{label}：已办理")
            return HttpResponseRedirect(back)
        for name in ("missing", "reason", "household"):
            if name not in asks:
                form.fields.pop(name)
        return TemplateResponse(
            request,
            "admin/settlement/act.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{label}：{obj}",
                "form": form,
                "original": obj,
                "opts": self.model._meta,
                "back": back,
                "label": label,
            },
        )

    def targets_view(self, request):
        if not request.user.has_perm("settlement.view_ruleset"):
            raise PermissionDenied
        rows = []
        for city_code in RuleSet.objects.values_list("city_code", flat=True).distinct():
            rows.extend(selectors.targets_progress(city_code=city_code))
        return TemplateResponse(
            request,
            "admin/settlement/targets.html",
            {
                **self.admin_site.each_context(request),
                "title": "落户目标完成情况",
                "rows": rows,
                "opts": self.model._meta,
            },
        )


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    list_display = [
        "city",
        "document_number",
        "document",
        "version",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["city"]
    readonly_fields = [
        "city_code",
        "city",
        "version",
        "document",
        "document_number",
        "issuer",
        "effective_from",
        "effective_to",
        "channels",
        "source_file",
    ]
    fields = readonly_fields

    @admin.display(description="落户渠道")
    def channels(self, obj):
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}（{}）→ {}；随迁：{}</li>",
                (
                    (
                        c["name"],
                        c["source"],
                        "、".join(c["targets"]),
                        "、".join(c.get("members", [])) or "—",
                    )
                    for c in obj.content["channels"]
                ),
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
