"""Admin for settlement officers (Chinese UI): queues, eligibility panel, transition buttons.

Every write goes through ``settlement.services``; a refusal becomes a message and changes
nothing. Lists show masked citizen IDs; every page that shows applicants logs the read.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from population.admin_utils import LargeTableAdmin, ReadOnlyAdminMixin, staff_name
from population.audit import access_log_admin_read
from population.clock import today
from population.errors import DomainError
from population.identity import mask_citizen_id, parse_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, ListReadAuditMixin, records_within
from population.models import Person, Sex
from population.pdf import print_channel, printable
from registry.selectors import households_open
from settlement import selectors, services
from settlement.admin_window import (
    FACT_PREFIX,
    FIELD_OF_CODE,
    MEMBER_RELATIONS,
    RELATIONS,
    HouseholdAutocomplete,
    HouseholdSelect,
    MemberFormSet,
    WindowForm,
    channel_facts,
    eligibility_fragment,
    household_label,
    rule_set_label,
    rule_sets_for,
    verdict_detail,
)
from settlement.facts import fact_label, fact_value_label
from settlement.models import (
    Application,
    ApplicationMember,
    ApplicationTransition,
    RuleSet,
    Status,
)
from settlement.rules import MEMBER_KINDS
from settlement.services import RELATION_ZH, TARGET_ZH

FULL_ID_PERMISSION = "population.view_full_citizen_id"

# transition method → (button label, service, what the form asks)
ACTIONS = {
    "mark_accepted": ("受理", "application_accept", ()),
    "mark_under_review": ("开始审核调查", "application_review_start", ()),
    "mark_returned": ("退回补正", "application_return", ("missing",)),
    "mark_approved": ("审批通过", "application_approve", ()),
    "mark_permit_issued": ("签发准迁证", "application_issue_permit", ("household", "relations")),
    "mark_completed": ("办理落户", "application_complete", ("relations",)),
    "mark_rejected": ("不予落户", "application_reject", ("reason",)),
    "mark_withdrawn": ("撤回", "application_withdraw", ()),
}


def _person_ids(citizen_ids) -> list[int]:
    return list(
        Person.objects.filter(citizen_id__in=list(citizen_ids)).values_list("pk", flat=True)
    )


def eligibility_panel(eligibility: dict, *, zones: dict | None = None) -> str:
    if not eligibility:
        return "—（提交后评估）"
    return verdict_detail(eligibility, zones=zones)


def channel_name(app: Application) -> str:
    spec = app.rule_set.channel(app.channel)
    return spec["name"] if spec else app.channel


def details_text(details: dict) -> str:
    """A transition's details in words (收件材料, 准迁证编号, 需补正材料)."""
    parts = []
    if details.get("materials"):
        parts.append("收件材料：" + "、".join(details["materials"]))
    if details.get("permit_number"):
        parts.append("准迁证编号：" + details["permit_number"])
    if details.get("missing"):
        parts.append("需补正：" + "、".join(details["missing"]))
    return "；".join(parts) or "—"


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
            ids = selectors.applications_overdue(on=today()).values("pk")
            return queryset.filter(pk__in=ids)
        if value in selectors.ROLE_QUEUES:
            ids = selectors.applications_queue(role=value, user=request.user).values("pk")
            return queryset.filter(pk__in=ids)
        return queryset


class MemberInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApplicationMember
    extra = 0
    fields = ["name", "masked_id", "kind_zh", "relation_zh", "settled"]
    readonly_fields = fields
    verbose_name_plural = "随迁人员"

    @admin.display(description="随迁类别")
    def kind_zh(self, obj):
        return MEMBER_KINDS.get(obj.kind, obj.kind)

    @admin.display(description="与户主关系")
    def relation_zh(self, obj):
        return RELATION_ZH.get(obj.relation, obj.relation)

    @admin.display(description="落户情况")
    def settled(self, obj):
        return "已落户" if obj.person_id else "未落户"

    @admin.display(description="身份号码")
    def masked_id(self, obj):
        return mask_citizen_id(obj.citizen_id)


class TransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApplicationTransition
    extra = 0
    fields = ["at", "from_status", "to_status", "officer_name", "comment", "details_zh"]
    readonly_fields = fields
    verbose_name_plural = "流转记录"

    @admin.display(description="经办人")
    def officer_name(self, obj):
        return staff_name(obj.officer)

    @admin.display(description="附加信息")
    def details_zh(self, obj):
        return details_text(obj.details)


class ActionForm(forms.Form):
    comment = forms.CharField(label="意见", required=False, max_length=500)
    missing = forms.CharField(
        label="需补正的材料（每行一项）", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    reason = forms.CharField(label="不予落户理由", required=False, max_length=300)
    household = forms.ModelChoiceField(
        label="迁入户",
        required=False,
        queryset=households_open().none(),
        help_text="输入户号或住址查找；默认为窗口受理时选定的户",
    )


@admin.register(Application)
class ApplicationAdmin(ListReadAuditMixin, JurisdictionAdminMixin, LargeTableAdmin):
    audit_channel = "admin.settlement"
    list_display = ["applicant", "city", "channel_zh", "target", "status", "step_due"]
    list_display_links = ["applicant"]
    list_filter = [QueueFilter, "status", "rule_set__city"]
    inlines = [MemberInline, TransitionInline]
    change_form_template = "admin/settlement/application_change_form.html"
    fields = [
        "applicant_full",
        "rule_set",
        "channel_zh",
        "target",
        "relation_zh",
        "status",
        "submitted_on",
        "step_due",
        "eligibility_panel",
        "missing_zh",
        "accepted_by_name",
        "approved_by_name",
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
        return obj.rule_set.city + ("（演示）" if obj.rule_set.is_demo else "")

    @admin.display(description="落户渠道")
    def channel_zh(self, obj):
        return channel_name(obj)

    @admin.display(description="申请人与户主关系")
    def relation_zh(self, obj):
        return RELATION_ZH.get(obj.relation, obj.relation)

    @admin.display(description="补正材料清单")
    def missing_zh(self, obj):
        return "、".join(obj.missing_items) or "—"

    @admin.display(description="受理人")
    def accepted_by_name(self, obj):
        return staff_name(obj.accepted_by)

    @admin.display(description="审批人")
    def approved_by_name(self, obj):
        return staff_name(obj.approved_by)

    @admin.display(description="资格审查")
    def eligibility_panel(self, obj):
        return eligibility_panel(obj.eligibility, zones=obj.rule_set.content.get("zones"))

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("rule_set", "accepted_by", "approved_by", "household")
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # -- 窗口受理 (the add page) ------------------------------------------------------------

    def _window_rule_set(self, request):
        rule_sets = rule_sets_for(request.user, on=today())
        city = request.POST.get("city") or request.GET.get("city")
        return rule_sets, next((r for r in rule_sets if r.city_code == city), None) or (
            rule_sets[0] if rule_sets else None
        )

    def add_view(self, request, form_url="", extra_context=None):
        """窗口受理: the application as the window takes it in (``application_window_open``)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        rule_sets, rule_set = self._window_rule_set(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "落户窗口受理",
            "opts": self.model._meta,
            "rule_sets": rule_sets,
            "rule_set": rule_set,
        }
        if rule_set is None:
            return TemplateResponse(request, "admin/settlement/window.html", context)
        data = request.POST if request.method == "POST" else None
        form = WindowForm(data, user=request.user, rule_set=rule_set)
        members = MemberFormSet(data, prefix="members", form_kwargs={"user": request.user})
        if data is not None and form.is_valid() and members.is_valid():
            app = self._window_save(request, form, members, rule_set)
            if app is not None:
                messages.success(
                    request,
                    f"已登记{app.name}的落户申请（{app.get_status_display()}），请核对后点击“受理”",
                )
                return HttpResponseRedirect(
                    reverse("admin:settlement_application_change", args=[app.pk])
                )
        context.update(
            form=form,
            members=members,
            media=self.media + form.media + members.media,
            rule_set_label=rule_set_label(rule_set),
            channel_facts=channel_facts(rule_set),
            channel_members={c["code"]: c.get("members", []) for c in rule_set.content["channels"]},
            member_kind_labels=MEMBER_KINDS,
            eligibility_url=reverse("admin:settlement_application_window_check"),
        )
        return TemplateResponse(request, "admin/settlement/window.html", context)

    def _window_save(self, request, form, members, rule_set):
        data = form.cleaned_data
        citizen_id, name = form.applicant_id_name()
        rows = [m for m in (f.member() for f in members.forms if f.has_changed()) if m]
        new_household = None
        if data.get("household") is None:
            new_household = {
                "kind": data["new_kind"],
                "address": data["new_address"],
                "region": data["new_region"],
            }
        try:
            return services.application_window_open(
                city_code=rule_set.city_code,
                on=data["on"],
                channel=data["channel"],
                target=data["target"],
                citizen_id=citizen_id,
                name=name,
                relation=data.get("relation") or "99",
                materials=data["materials"],
                evidence=form.evidence(),
                members=[{k: v for k, v in m.items()} for m in rows],
                household=data.get("household"),
                new_household=new_household,
                actor=request.user,
            )
        except services.RelationError as exc:
            if exc.citizen_id == citizen_id:
                form.add_error("relation", exc.message_zh)
            else:
                for f in members.forms:
                    m = f.has_changed() and f.member()
                    if m and m["citizen_id"] == exc.citizen_id:
                        f.add_error("relation", exc.message_zh)
                        break
                else:
                    form.add_error(None, exc.message_zh)
        except DomainError as exc:
            field = FIELD_OF_CODE.get(exc.code)
            if field == "name" and data.get("applicant") is not None:
                field = "applicant"
            if exc.code in ("bad_member", "duplicate_member", "invalid_citizen_id"):
                field = None
            form.add_error(field, exc.message_zh)
        return None

    def window_check_view(self, request):
        """The live eligibility panel of the window (an HTML fragment)."""
        if not self.has_add_permission(request) or request.method != "POST":
            raise PermissionDenied
        _, rule_set = self._window_rule_set(request)
        if rule_set is None:
            raise Http404
        form = WindowForm(request.POST, user=request.user, rule_set=rule_set)
        form.is_valid()  # what is valid so far is used; the rest is not known yet
        citizen_id, _ = form.applicant_id_name()
        on = form.cleaned_data.get("on") or today()
        observed = form.observed()
        evidence = {
            k: v
            for k, v in form.evidence().items()
            if FACT_PREFIX + k in form.cleaned_data or k in observed
        }
        on_file, verdicts = services.window_precheck(
            rule_set=rule_set, citizen_id=citizen_id, on=on, evidence=evidence
        )
        person = form.cleaned_data.get("applicant")
        if person is not None:
            access_log_admin_read(
                request,
                channel="admin.settlement_window",
                person_ids=[person.pk],
                fields=["birth_date", "hukou_region", "residence_permit"],
            )
        zones = rule_set.content.get("zones", {})
        known = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (fact_label(k), fact_value_label(k, v, zones=zones))
                for k, v in {**on_file, **observed}.items()
            ),
        )
        on_file_html = (
            format_html(
                '<table id="facts-on-file"><caption>档案中的事实</caption>'
                "<tbody>{}</tbody></table>",
                known,
            )
            if on_file or observed
            else format_html(
                "<p>{}</p>",
                "档案中没有此人的事实，按填写的证明事实评估"
                if citizen_id
                else "尚未选择申请人：按填写的证明事实评估",
            )
        )
        body = format_html(
            "{}{}",
            on_file_html,
            eligibility_fragment(
                rule_set=rule_set, verdicts=verdicts, chosen=form.data.get("channel", "")
            ),
        )
        return HttpResponse(body)

    list_audit_channel = "admin.settlement_list"
    list_audit_fields = ["name", "citizen_id(masked)", "channel", "status"]

    def list_audit_person_ids(self, rows) -> list[int]:
        return _person_ids(a.citizen_id for a in rows)

    def allowed_actions(self, request, obj) -> list[tuple[str, str]]:
        """Only the buttons for transitions allowed now and to this user."""
        if not request.user.has_perm("settlement.change_application"):
            return []  # act_view refuses those who only read (the auditor)
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
            extra["admission_certificate"] = self._certificate_printable(obj)
        return super().change_view(request, object_id, form_url, extra)

    def audit_fields(self, request, obj):
        return [str(f) for f in self.fields] + ["members"]

    def get_urls(self):
        return [
            path(
                "<int:object_id>/admission-certificate/",
                self.admin_site.admin_view(self.admission_certificate_view),
                name="settlement_application_admission_certificate",
            ),
            path(
                "<int:object_id>/act/<str:method>/",
                self.admin_site.admin_view(self.act_view),
                name="settlement_application_act",
            ),
            path(
                "window/households/",
                self.admin_site.admin_view(
                    HouseholdAutocomplete.as_view(admin_site=self.admin_site)
                ),
                name="settlement_household_autocomplete",
            ),
            path(
                "window/check/",
                self.admin_site.admin_view(self.window_check_view),
                name="settlement_application_window_check",
            ),
            path(
                "targets/",
                self.admin_site.admin_view(self.targets_view),
                name="settlement_targets",
            ),
            *super().get_urls(),
        ]

    def _action_form(self, request, obj, asks, data=None) -> ActionForm:
        """The step's form: only what it asks; the household by autocomplete (pre-filled with
        the one chosen at the window) and, for the permit and the move-in, each person's
        relation to the destination's head."""
        form = ActionForm(data, initial={"household": obj.household_id})
        for name in ("missing", "reason", "household"):
            if name not in asks:
                form.fields.pop(name)
        if "household" in asks:
            form.fields["household"].queryset = records_within(request.user, households_open())
            form.fields["household"].label_from_instance = household_label
            form.fields["household"].widget = HouseholdSelect(
                self.admin_site, attrs={"data-placeholder": "户号或住址"}
            )
            form.fields["household"].widget.choices = form.fields["household"].choices
        form.people = []
        if "relations" in asks:
            people = [
                (obj.citizen_id, obj.name, obj.relation),
                *obj.members.order_by("pk").values_list("citizen_id", "name", "relation"),
            ]
            for i, (citizen_id, name, relation) in enumerate(people):
                key = f"relation_{i}"
                choices = RELATIONS if i == 0 else MEMBER_RELATIONS
                form.fields[key] = forms.ChoiceField(
                    label=f"{name}与户主关系",
                    choices=choices,
                    initial=relation,
                    required=False,
                    help_text="迁入集体户时不适用" if i == 0 else "",
                )
                form.people.append((key, citizen_id))
        return form

    def act_view(self, request, object_id: int, method: str):
        obj = self.get_object(request, str(object_id))
        if obj is None or method not in ACTIONS:
            raise Http404
        if not request.user.has_perm("settlement.change_application"):
            raise PermissionDenied
        label, service_name, asks = ACTIONS[method]
        back = reverse("admin:settlement_application_change", args=[obj.pk])
        form = self._action_form(request, obj, asks, request.POST or None)
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
                kwargs["household"] = data["household"]
            if form.people:
                kwargs["relations"] = {cid: data[key] for key, cid in form.people if data[key]}
            try:
                getattr(services, service_name)(**kwargs)
            except services.RelationError as exc:
                key = next((k for k, cid in form.people if cid == exc.citizen_id), None)
                form.add_error(key, exc.message_zh)
            except DomainError as exc:
                if exc.code in ("bad_household", "household_required") and "household" in asks:
                    form.add_error("household", exc.message_zh)
                else:
                    messages.error(request, f"{label}未办理：{exc.message_zh}")
                    return HttpResponseRedirect(back)
            else:
                messages.success(request, f"{label}：已办理")
                return HttpResponseRedirect(back)
        head = services.household_head_name(obj.household) if obj.household_id else None
        return TemplateResponse(
            request,
            "admin/settlement/act.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{label}：{obj}",
                "form": form,
                "media": self.media + form.media,
                "original": obj,
                "opts": self.model._meta,
                "back": back,
                "label": label,
                "household": obj.household,
                "head": head,
            },
        )

    # -- 准予迁入证明 -----------------------------------------------------------------------

    @staticmethod
    def _certificate_printable(obj: Application) -> bool:
        """A certificate exists once the 准迁证 is signed and until it is used or lapses."""
        return bool(obj.permit_number) and obj.status in (
            Status.PERMIT_ISSUED,
            Status.COMPLETED,
        )

    def admission_certificate_view(self, request, object_id: int):
        """准予迁入证明 (准迁证) of an approved application, printable: the applicant and the
        accompanying members, the destination household and its head, validity, issuer and
        officer. Reached through the area rule (``get_object``); logged as a read."""
        obj = self.get_object(request, str(object_id))
        if obj is None:
            raise Http404("不存在或不在您的辖区内")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        if not self._certificate_printable(obj):
            raise Http404("此申请尚未签发准予迁入证明，或证明已失效")
        full = request.user.has_perm(FULL_ID_PERMISSION)
        members = list(obj.members.order_by("pk"))
        issued = (
            obj.transitions.filter(to_status=Status.PERMIT_ISSUED)
            .select_related("officer")
            .order_by("-at")
            .first()
        )
        fields = ["name", "citizen_id" if full else "masked_citizen_id", "admission_certificate"]
        access_log_admin_read(
            request,
            channel=print_channel(request, "admin.print.admission_certificate"),
            person_ids=_person_ids([obj.citizen_id, *(m.citizen_id for m in members)]),
            fields=fields,
        )

        def shown(citizen_id: str) -> str:
            return citizen_id if full else mask_citizen_id(citizen_id)

        # The applicant may not be on file yet (the link is set on completion): the number
        # itself tells sex and birth date.
        applicant = obj.person or Person.objects.filter(citizen_id=obj.citizen_id).first()
        parsed = parse_citizen_id(obj.citizen_id)
        context = {
            "title": "准予迁入证明",
            "app": obj,
            "citizen_id": shown(obj.citizen_id),
            "sex": Sex(parsed.sex).label,
            "birth_date": parsed.birth_date,
            # Before the move the person's 户籍地 is the origin; after it, the move-out papers.
            "origin": applicant.hukou_region.name
            if applicant and applicant.hukou_region_id and obj.status == Status.PERMIT_ISSUED
            else "以迁出地户口迁移证为准",
            "relation": RELATION_ZH.get(obj.relation, obj.relation),
            "members": [
                {
                    "name": m.name,
                    "citizen_id": shown(m.citizen_id),
                    "relation": RELATION_ZH.get(m.relation, m.relation),
                    "kind": MEMBER_KINDS.get(m.kind, m.kind),
                }
                for m in members
            ],
            "household": obj.household,
            "head": services.household_head_name(obj.household) if obj.household_id else None,
            "channel": channel_name(obj),
            "target": TARGET_ZH.get(obj.target, obj.target),
            "issued_on": timezone.localtime(issued.at).date() if issued else None,
            "officer": staff_name(issued.officer) if issued else "—",
            "approved_by": staff_name(obj.approved_by),
            "issuer": f"{obj.rule_set.city}公安局",
            "demo": obj.rule_set.is_demo,
            "full_id": full,
        }
        response = TemplateResponse(
            request, "admin/settlement/print/admission_certificate.html", context
        )
        return printable(request, response, f"准予迁入证明_{obj.permit_number}.pdf")

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
class RuleSetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "city",
        "demo",
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
        "source_zh",
    ]
    fields = readonly_fields

    @admin.display(description="规则来源")
    def source_zh(self, obj):
        """Where the rules come from, by the document (the data file's name means nothing to
        an officer); a demonstration copy says which rule set it copies."""
        if obj.is_demo:
            return obj.content.get("validity_note") or "演示规则（仅供演示数据使用，不是现行政策）"
        number = f"（{obj.document_number}）" if obj.document_number else ""
        return f"{obj.issuer}《{obj.document}》{number}"

    @admin.display(description="演示")
    def demo(self, obj):
        return "演示规则" if obj.is_demo else "—"

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
                        "、".join(TARGET_ZH.get(t, t) for t in c["targets"]),
                        "、".join(MEMBER_KINDS.get(m, m) for m in c.get("members", [])) or "—",
                    )
                    for c in obj.content["channels"]
                ),
            ),
        )
