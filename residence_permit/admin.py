"""Admin for residence-permit officers (Chinese UI): queues, eligibility, actions, printing.

Every write goes through ``residence_permit.services`` (or ``points``); a refusal becomes a
message and changes nothing. Lists show masked citizen IDs; detail and print pages log the read.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from population.admin_utils import (
    CreateOnlyAdminMixin,
    LargeTableAdmin,
    ReadOnlyAdminMixin,
    ServiceSaveAdminMixin,
)
from population.audit import access_log_admin_read
from population.clock import today
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, ListReadAuditMixin
from population.pdf import print_channel, printable
from residence_permit import points, rules, selectors, services
from residence_permit.models import (
    ApplicationQueue,
    EndorsementDueQueue,
    LapsedQueue,
    PermitApplication,
    PermitEvent,
    PermitStatus,
    PersonFact,
    PointsEntry,
    PointsPolicy,
    ResidencePermit,
    ResidenceRegistration,
)

FULL_ID_PERMISSION = "population.view_full_citizen_id"
PRINT_PERMISSION = "residence_permit.print_residencepermit"
STATUS_MARKS = {"met": "✔ 符合", "unmet": "✘ 不符合", "missing_evidence": "？ 缺少证明"}


def _holder(person) -> str:
    return f"{person.name}（{mask_citizen_id(person.citizen_id)}）"


def _run(request, label: str, objects, call) -> None:
    """Apply ``call`` to each object; report successes and each refusal as messages."""
    done = 0
    for obj in objects:
        try:
            call(obj)
        except DomainError as exc:
            messages.error(request, f"{obj}：{exc.message_zh}")
        else:
            done += 1
    if done:
        messages.success(request, f"{label}：已办理 {done} 件")


class ReadAuditMixin(ListReadAuditMixin, JurisdictionAdminMixin):
    """Scoped to the user's area; logs the persons a list page or a detail page showed."""

    audit_channel = "admin.residence_permit"


# -- forms saved by a service -------------------------------------------------------------------

# A refusal common to every service here → the field it concerns (the person chosen).
PERSON_CODES = {"unknown_person": "person", "person_inactive": "person"}


class ServiceForm(forms.ModelForm):
    """An add form whose record is written by a service, not by ``ModelForm.save``.

    The service runs when the form is validated, in a savepoint inside the admin's transaction:
    a refusal becomes an error on the field it concerns (``field_of_code``; others above the
    form), the form keeps what was typed, and nothing is left written. ``ServiceAddAdmin``
    gives the form the acting user and takes the saved record.
    """

    field_of_code: dict[str, str] = {}
    actor = None  # the signed-in user (set on the per-request form class by get_form)

    def run(self, data: dict, actor):
        raise NotImplementedError

    def _post_clean(self):
        super()._post_clean()
        self.saved = None
        if self.errors:
            return
        try:
            with transaction.atomic():
                self.saved = self.run(self.cleaned_data, self.actor)
        except DomainError as exc:
            field = {**PERSON_CODES, **self.field_of_code}.get(exc.code)
            self.add_error(field if field in self.fields else None, exc.message_zh)


class ServiceAddAdmin(CreateOnlyAdminMixin, ServiceSaveAdminMixin):
    """Admin side of ``ServiceForm``: add pages only; the service has saved when valid."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        form.actor = request.user  # a new class per call: safe per request
        return form

    def save_by_service(self, request, obj, form, change):
        return form.saved


# -- residence registration and facts ------------------------------------------------------------


class RegistrationForm(ServiceForm):
    field_of_code = {
        "address_required": "address",
        "bad_basis": "basis",
        "bad_region": "region",
        "outside_jurisdiction": "region",
        "at_hukou_address": "region",
        "future_date": "start_date",
        "date_order": "start_date",
        "registration_open": "person",
        "registration_overlap": "start_date",
    }

    class Meta:
        model = ResidenceRegistration
        fields = ["person", "address", "region", "basis", "start_date"]

    def run(self, data, actor):
        return services.residence_registration_create(
            actor=actor, **{k: data[k] for k in self.Meta.fields}
        )


@admin.register(ResidenceRegistration)
class ResidenceRegistrationAdmin(ServiceAddAdmin, ReadAuditMixin, LargeTableAdmin):
    audit_channel = "admin.residence_registration"
    form = RegistrationForm
    list_display = ["holder", "address", "region", "basis", "start_date", "end_date"]
    list_display_links = ["holder"]
    list_select_related = ["person", "region"]
    list_filter = ["basis"]
    # People and places are chosen by what officers know (ID, name, pinyin; region name), never
    # by an internal number.
    autocomplete_fields = ["person", "region"]
    search_fields = ["=person__citizen_id"]
    search_help_text = "输入完整公民身份号码精确查找"
    actions = ["end_today"]

    @admin.display(description="人员")
    def holder(self, obj):
        return _holder(obj.person)

    @admin.action(description="终止所选居住登记（今日，搬离居住地）", permissions=["change"])
    def end_today(self, request, queryset):
        _run(
            request,
            "终止居住登记",
            queryset.select_related("person"),
            lambda r: services.residence_registration_end(
                registration=r, end_date=today(), actor=request.user, reason="搬离"
            ),
        )


class FactForm(ServiceForm):
    field_of_code = {
        "bad_fact_kind": "kind",
        "evidence_required": "evidence",
        "bad_source": "source_name",
        "date_order": "end_date",
        "future_date": "start_date",
        "bad_quantity": "quantity",
        "outside_jurisdiction": "person",
    }

    class Meta:
        model = PersonFact
        fields = [
            "person",
            "kind",
            "start_date",
            "end_date",
            "quantity",
            "level",
            "evidence",
            "source_name",
        ]

    def clean(self):
        # Before the model's own check (a non-field error), on the field the officer corrects.
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "终止日期早于起始日期")
        return cleaned

    def run(self, data, actor):
        return services.person_fact_record(actor=actor, **{k: data[k] for k in self.Meta.fields})


@admin.register(PersonFact)
class PersonFactAdmin(ServiceAddAdmin, ReadAuditMixin, LargeTableAdmin):
    audit_channel = "admin.permit_fact"
    form = FactForm
    list_display = ["holder", "kind", "start_date", "end_date", "evidence", "source_name"]
    list_display_links = ["holder"]
    list_filter = ["kind", "source"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    search_fields = ["=person__citizen_id"]
    search_help_text = "输入完整公民身份号码精确查找"
    actions = ["retract"]

    @admin.display(description="人员")
    def holder(self, obj):
        return _holder(obj.person)

    @admin.action(
        description="撤销所选事实（录入有误），积分将在下次重算时冲销", permissions=["change"]
    )
    def retract(self, request, queryset):
        _run(
            request,
            "撤销事实",
            queryset,
            lambda f: services.person_fact_retract(fact=f, actor=request.user, reason="录入有误"),
        )


# -- applications ----------------------------------------------------------------------------


class ApplicationForm(ServiceForm):
    field_of_code = {
        "no_registration": "person",
        "permit_exists": "person",
        "pending_exists": "person",
        "outside_jurisdiction": "person",
        "bad_proxy": "proxy",
        "bad_sponsor": "sponsor",
        "future_date": "submitted_on",
        "date_order": "submitted_on",
    }

    class Meta:
        model = PermitApplication
        fields = ["person", "proxy", "sponsor", "submitted_on"]

    def run(self, data, actor):
        return services.permit_application_submit(
            person=data["person"],
            proxy=data["proxy"],
            sponsor=data["sponsor"],
            on=data["submitted_on"],
            actor=actor,
        )


def eligibility_table(eligibility: dict) -> str:
    if not eligibility:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                c["label"],
                STATUS_MARKS.get(c["status"], c["status"]),
                c["detail"],
                "；".join(c["evidence"]) or "—",
            )
            for c in eligibility["conditions"]
        ),
    )
    verdict = "符合申领条件" if eligibility["eligible"] else "不符合申领条件"
    return format_html(
        "<p><strong>{}</strong>（审查日 {}）</p><table><thead><tr><th>条件</th><th>结论</th>"
        "<th>说明</th><th>证明材料</th></tr></thead><tbody>{}</tbody></table>",
        verdict,
        eligibility["on"],
        rows,
    )


@admin.register(PermitApplication)
class PermitApplicationAdmin(ServiceAddAdmin, ReadAuditMixin, LargeTableAdmin):
    audit_channel = "admin.permit_application"
    form = ApplicationForm
    list_display = ["applicant", "submitted_on", "status", "eligible", "address"]
    list_display_links = ["applicant"]
    list_filter = ["status"]
    list_select_related = ["person", "registration"]
    autocomplete_fields = ["person", "proxy", "sponsor"]
    search_fields = ["=person__citizen_id"]
    search_help_text = "输入完整公民身份号码精确查找"
    actions = ["issue", "reject", "withdraw"]
    ordering = ["submitted_on", "id"]

    @admin.display(description="申请人")
    def applicant(self, obj):
        return _holder(obj.person)

    @admin.display(description="符合条件", boolean=True)
    def eligible(self, obj):
        # Judged again whenever evidence is recorded or retracted
        # (services.facts._applications_rejudge); the verdict recorded at submission is on the
        # detail page.
        return obj.eligible_now

    @admin.display(description="居住地址")
    def address(self, obj):
        return obj.registration.address

    @admin.display(description="资格审查（今日重新审查）")
    def eligibility_now(self, obj):
        result = selectors.permit_eligibility(
            person=obj.person, on=today(), sponsor=obj.sponsor, proxy=obj.proxy
        )
        return eligibility_table(result.as_dict())

    @admin.display(description="资格审查（申请时/发证时）")
    def eligibility_recorded(self, obj):
        return eligibility_table(obj.eligibility)

    add_fields = ApplicationForm.Meta.fields
    change_fields = [
        "applicant",
        "status",
        "submitted_on",
        "address",
        "eligibility_now",
        "eligibility_recorded",
        "decided_by",
        "decided_at",
        "decision_reason",
    ]

    @admin.action(description="签发居住证（今日，重新审查资格）", permissions=["change"])
    def issue(self, request, queryset):
        _run(
            request,
            "签发居住证",
            queryset,
            lambda a: services.permit_issue(application=a, actor=request.user),
        )

    @admin.action(description="不予办理（理由为未符合的条件）", permissions=["change"])
    def reject(self, request, queryset):
        def call(app):
            result = selectors.permit_eligibility(
                person=app.person, on=today(), sponsor=app.sponsor, proxy=app.proxy
            )
            unmet = "、".join(c.label for c in result.blocking)
            services.permit_application_reject(
                application=app, actor=request.user, reason=f"不符合：{unmet or '见审查记录'}"[:200]
            )

        _run(request, "不予办理", queryset, call)

    @admin.action(description="撤回申请（申请人要求）", permissions=["change"])
    def withdraw(self, request, queryset):
        _run(
            request,
            "撤回申请",
            queryset,
            lambda a: services.permit_application_withdraw(application=a, actor=request.user),
        )


@admin.register(ApplicationQueue)
class ApplicationQueueAdmin(PermitApplicationAdmin):
    list_filter = []

    def get_queryset(self, request):
        return selectors.applications_waiting().select_related("person", "registration")

    def has_add_permission(self, request):
        return False

    # The queue is a proxy: the base model's permissions decide.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("residence_permit.view_permitapplication")

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("residence_permit.change_permitapplication")

    def has_module_permission(self, request):
        return self.has_view_permission(request)


# -- permits ---------------------------------------------------------------------------------


class PermitEventInline(admin.TabularInline):
    model = PermitEvent
    fields = ["on", "kind", "number", "reason", "officer", "recorded_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "居住证事项（不可修改）"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ResidencePermit)
class ResidencePermitAdmin(ReadAuditMixin, LargeTableAdmin):
    audit_channel = "admin.residence_permit"
    list_display = [
        "number",
        "holder",
        "status",
        "issue_date",
        "next_endorsement_due",
        "valid_until",
        "print_link",
    ]
    list_filter = ["status"]
    list_select_related = ["person"]
    search_fields = ["=number", "=person__citizen_id"]
    search_help_text = "输入居住证号码或完整公民身份号码精确查找"
    inlines = [PermitEventInline]
    actions = ["endorse", "renew", "reissue", "cancel_left", "recompute_points"]
    fields = [
        "number",
        "holder",
        "status",
        "address",
        "region",
        "issue_date",
        "valid_until",
        "next_endorsement_due",
        "endorsement_window",
        "continuous_since",
        "lapsed_on",
        "cancelled_on",
        "cancel_reason",
        "points_summary",
    ]
    readonly_fields = fields

    @admin.display(description="持证人")
    def holder(self, obj):
        return _holder(obj.person)

    @admin.display(description="本次签注期")
    def endorsement_window(self, obj):
        first, last = rules.endorsement_window(obj.next_endorsement_due)
        grace_end = rules.lapse_day(obj.next_endorsement_due) - dt.timedelta(days=1)
        return f"{first} 至 {last}（宽限至 {grace_end}）"

    @admin.display(description="积分")
    def points_summary(self, obj):
        policy = points.policy_in_force(city_code=points.city_code_of(obj.region_id), on=today())
        if policy is None:
            return "本市暂无积分政策"
        total = points.points_total(person=obj.person, policy=policy)
        tier, services_open = points.points_tier(policy=policy, total=total)
        opened = "、".join(services_open)
        return f"{total} 分（{policy.name} {policy.version}）；{tier['label']}：{opened}"

    @admin.display(description="打印")
    def print_link(self, obj):
        return format_html(
            '<a href="{}">打印</a>',
            reverse("admin:residence_permit_residencepermit_print", args=[obj.pk]),
        )

    def get_list_display(self, request):
        # 打印 only for roles that may print (the print page refuses the others).
        shown = list(super().get_list_display(request))
        if not request.user.has_perm(PRINT_PERMISSION):
            shown.remove("print_link")
        return shown

    def has_add_permission(self, request):
        return False  # permits are issued from applications

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/print/",
                self.admin_site.admin_view(self.print_view),
                name="residence_permit_residencepermit_print",
            ),
            *super().get_urls(),
        ]

    def print_view(self, request, object_id: int):
        """A printable permit: holder, number, address, validity and endorsement record."""
        if not request.user.has_perm(PRINT_PERMISSION):
            raise PermissionDenied
        permit = (
            self.get_queryset(request)
            .select_related("person", "region")
            .filter(pk=object_id)
            .first()
        )
        if permit is None:
            raise Http404("不存在或不在您的辖区内")
        full = request.user.has_perm(FULL_ID_PERMISSION)
        access_log_admin_read(
            request,
            channel=print_channel(request, "admin.residence_permit_print"),
            person_ids=[permit.person_id],
            fields=["name", "citizen_id" if full else "masked_citizen_id", "address", "number"],
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"居住证 {permit.number}",
            "permit": permit,
            "citizen_id": permit.person.citizen_id
            if full
            else mask_citizen_id(permit.person.citizen_id),
            "endorsements": permit.log.filter(kind__in=["endorse", "endorse_late"]).order_by("on"),
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/residence_permit/print.html", context)
        return printable(request, response, f"居住证_{permit.number}.pdf")

    @admin.action(description="签注（今日）", permissions=["change"])
    def endorse(self, request, queryset):
        _run(
            request,
            "签注",
            queryset,
            lambda p: services.permit_endorse(permit=p, actor=request.user),
        )

    @admin.action(description="换领（今日起新有效期）", permissions=["change"])
    def renew(self, request, queryset):
        _run(
            request, "换领", queryset, lambda p: services.permit_renew(permit=p, actor=request.user)
        )

    @admin.action(description="遗失补领（换发新号码）", permissions=["change"])
    def reissue(self, request, queryset):
        _run(
            request,
            "补领",
            queryset,
            lambda p: services.permit_reissue(permit=p, actor=request.user, reason="遗失补领"),
        )

    @admin.action(description="注销（持证人离开居住地）", permissions=["change"])
    def cancel_left(self, request, queryset):
        _run(
            request,
            "注销",
            queryset,
            lambda p: services.permit_cancel_on_leaving(permit=p, actor=request.user),
        )

    @admin.action(description="按现有事实重算积分", permissions=["change"])
    def recompute_points(self, request, queryset):
        _run(
            request,
            "重算积分",
            queryset.select_related("person"),
            lambda p: points.points_recompute(person=p.person, actor=request.user),
        )


class _QueueAdmin(ResidencePermitAdmin):
    list_filter = []

    # The queues are proxies: the base model's permissions decide.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("residence_permit.view_residencepermit")

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("residence_permit.change_residencepermit")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def get_urls(self):
        return super(ResidencePermitAdmin, self).get_urls()


@admin.register(EndorsementDueQueue)
class EndorsementDueQueueAdmin(_QueueAdmin):
    def get_queryset(self, request):
        on = today()
        return selectors.permits_due_for_endorsement(on=on).select_related("person")


@admin.register(LapsedQueue)
class LapsedQueueAdmin(_QueueAdmin):
    def get_queryset(self, request):
        return ResidencePermit.objects.filter(status=PermitStatus.LAPSED).select_related("person")


# -- points ------------------------------------------------------------------------------------


@admin.register(PointsPolicy)
class PointsPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: policies come from data files (load_points_policies)."""

    # The policy by its document, not by the data file it was loaded from.
    list_display = ["city_code", "version", "name", "document", "effective_from", "effective_to"]
    # The rules read as tables, never as the stored JSON.
    readonly_fields = [
        *(
            f.name
            for f in PointsPolicy._meta.fields
            if f.name not in ("id", "source_file", "rules")
        ),
        "rules_source",
        "rules_interpretation",
        "rules_indicators",
        "rules_deductions",
        "rules_tiers",
        "rules_settlement",
    ]
    fields = readonly_fields

    @admin.display(description="来源")
    def rules_source(self, obj):
        # The data file names the repository's copy of the document (seeds/…): not for officers.
        return _SEED_REFERENCE.sub("", obj.rules.get("source") or "") or "—"

    @admin.display(description="本版说明")
    def rules_interpretation(self, obj):
        lines = obj.rules.get("interpretation") or []
        return format_html_join("", "<p>{}</p>", ((line,) for line in lines)) if lines else "—"

    @admin.display(description="积分指标与分值")
    def rules_indicators(self, obj):
        return _table(
            ("指标", "计分方式", "分值"),
            (
                (ind["label"], points.METHOD_LABELS[ind["method"]], _indicator_scoring(ind))
                for ind in obj.rules.get("indicators", [])
            ),
        )

    @admin.display(description="扣分项")
    def rules_deductions(self, obj):
        return _table(
            ("扣分项", "分值"),
            ((d["label"], f"{d['points']}分") for d in obj.rules.get("deductions", [])),
        )

    @admin.display(description="公共服务阶梯")
    def rules_tiers(self, obj):
        return _table(
            ("阶梯", "最低积分", "可享公共服务"),
            (
                (t["label"], f"{t['min_points']}分", "、".join(t.get("services", [])) or "—")
                for t in obj.rules.get("tiers", [])
            ),
        )

    @admin.display(description="积分落户")
    def rules_settlement(self, obj):
        settlement = obj.rules.get("settlement") or {}
        order = "；".join(points.TIE_BREAK_LABELS[t] for t in settlement.get("tie_breaks", []))
        minimum = settlement.get("min_points")
        return format_html(
            "最低分值：{}<br>同分排序：{}",
            f"{minimum}分" if minimum is not None else "—",
            order or "—",
        )


_SEED_REFERENCE = re.compile(r"（[^（）]*/[^（）]*）")


def _table(headers, rows):
    rows = list(rows)
    if not rows:
        return "—"
    return format_html(
        '<table class="points-policy"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((h,) for h in headers)),
        format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
        ),
    )


def _indicator_scoring(ind: dict) -> str:
    """One indicator's scoring in words, e.g. 每满一年3分，最高30分."""
    cap = f"，最高{ind['cap']}分" if "cap" in ind else ""
    facts = "、".join(points.value_label(f) for f in ind.get("facts", []))
    method = ind["method"]
    if method == "residence_years":
        return f"连续居住每满一年{ind['per_year']}分{cap}"
    if method == "fact_years":
        return f"{facts}每满一年{ind['per_year']}分{cap}"
    if method == "fact_quantity":
        return f"{facts}累计每满{ind['unit']}计{ind['per_unit']}分{cap}"
    # Lowest score first (the stored JSON keeps no order of its own).
    ranked = sorted(ind["scores"].items(), key=lambda kv: (kv[1], kv[0]))
    scores = "、".join(f"{points.value_label(k)}{v}分" for k, v in ranked)
    return f"{scores}（取最高一项）"


class DeductionForm(ServiceForm):
    code = forms.ChoiceField(label="扣分项", choices=[])
    field_of_code = {
        "evidence_required": "evidence",
        "no_permit": "person",
        "outside_jurisdiction": "person",
        "bad_indicator": "code",
        "unknown_deduction": "code",
        "no_policy": "person",
    }

    class Meta:
        model = PointsEntry
        fields = ["person", "evidence"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [
            (d["code"], f"{d['label']}（{d['points']}分）")
            for policy in PointsPolicy.objects.all()
            for d in policy.rules.get("deductions", [])
        ]

    def run(self, data, actor):
        return points.points_deduction_add(
            person=data["person"], code=data["code"], evidence=data["evidence"], actor=actor
        )


@admin.register(PointsEntry)
class PointsEntryAdmin(ServiceAddAdmin, ReadAuditMixin, LargeTableAdmin):
    audit_channel = "admin.points_entry"
    form = DeductionForm
    list_display = ["holder", "indicator", "points", "source", "evidence", "created_at"]
    list_display_links = ["holder"]
    list_filter = ["source", "indicator"]
    list_select_related = ["person"]
    autocomplete_fields = ["person"]
    search_fields = ["=person__citizen_id"]
    search_help_text = "输入完整公民身份号码精确查找"

    @admin.display(description="持证人")
    def holder(self, obj):
        return _holder(obj.person)

    add_fields = ["person", "code", "evidence"]
