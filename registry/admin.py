"""Admin for households and memberships (Chinese UI)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from population.admin_story import person_page_section_hook
from population.admin_utils import (
    LargeTableAdmin,
    PageAction,
    ReadOnlyAdminMixin,
    ServiceSaveAdminMixin,
    person_page_action_hook,
    staff_name,
)
from population.audit import access_log_admin_read
from population.codes import Relation
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import (
    JurisdictionAdminMixin,
    ListReadAuditMixin,
    break_glass_accesses,
    persons_within,
    region_required_within,
)
from population.models import Person, RegionLevel
from population.pdf import print_channel, printable
from population.search import SearchError, person_search
from registry import services
from registry.admin_events import (
    EVENT_PERMISSION,
    HOUSEHOLD_EVENTS,
    PERSON_EVENTS,
    correction_value_display,
    event_urls,
    household_book,
)
from registry.admin_person import event_lines, household_event_rows, person_hukou_section
from registry.models import (
    Correction,
    CorrectionStatus,
    EventKind,
    Household,
    Membership,
    RegistrationEvent,
)
from registry.prints import card

FULL_ID_PERMISSION = "population.view_full_citizen_id"


def _people(request, term: str):
    """Persons of the user's area matching a search term (population.search)."""
    try:
        return person_search(persons_within(request.user), term).values("pk")
    except SearchError:
        return Person.objects.none().values("pk")


def _member_households(request, term: str):
    """Households any matching person belongs or belonged to."""
    return Membership.objects.filter(person__in=_people(request, term)).values("household_id")


class MembershipInline(ReadOnlyAdminMixin, admin.TabularInline):
    """户成员, in the order of a 户口簿 (常住人口登记卡): current members head first, then
    by relation and age; former members after them."""

    model = Membership
    fields = ["person_link", "relation", "sex", "birth_date", "start_date", "end_date"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "户成员（成员变动须通过户籍登记事项办理）"

    @admin.display(description="人员")
    def person_link(self, obj: Membership) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    @admin.display(description="性别")
    def sex(self, obj: Membership) -> str:
        return obj.person.get_sex_display()

    @admin.display(description="出生日期")
    def birth_date(self, obj: Membership):
        return obj.person.birth_date

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("person")
            .order_by(F("end_date").desc(nulls_first=True), "relation", "person__birth_date", "pk")
        )


class HouseholdCreateForm(forms.ModelForm):
    """立户: kind, address and village; the number is allocated by the service."""

    reason = forms.CharField(label="立户原因", max_length=200, initial="立户")

    jurisdiction_user = None  # set by HouseholdAdmin.get_form

    class Meta:
        model = Household
        fields = ["kind", "address", "region"]

    def clean_region(self):
        region = self.cleaned_data["region"]
        try:
            region_required_within(self.jurisdiction_user, region, field_zh="所在区划")
        except DomainError as exc:
            raise forms.ValidationError(exc.message_zh, code=exc.code) from exc
        if region.level != RegionLevel.VILLAGE:
            raise forms.ValidationError("户应登记在村（居）级区划", code="bad_region")
        return region


@admin.register(Household)
class HouseholdAdmin(ServiceSaveAdminMixin, JurisdictionAdminMixin, LargeTableAdmin):
    change_form_template = "admin/registry/household/change_form.html"
    list_display = ["number", "kind", "address", "region", "closed_on"]
    list_filter = ["kind"]
    list_select_related = ["region"]
    search_fields = ["=number", "address"]  # the search itself is get_search_results below
    search_help_text = (
        "输入户号、住址关键词，或户成员的公民身份号码、姓名（可加出生日期，或用拼音）"
    )
    autocomplete_fields = ["region"]
    inlines = [MembershipInline]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        members = _member_households(request, term)
        return queryset.filter(
            Q(number=term) | Q(address__contains=term) | Q(pk__in=members)
        ), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = HouseholdCreateForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.jurisdiction_user = request.user
        return form

    def get_inline_instances(self, request, obj=None):
        return [] if obj is None else super().get_inline_instances(request, obj)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "address", "region", "reason"]
        return ["number", "kind", "address", "region", "closed_on", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # Once created, a household's number, kind, place and closing change only through
        # registration events; the address (a renamed street) stays editable.
        if obj is None:
            return []
        return ["number", "kind", "region", "closed_on", "created_at"]

    changes_by_service = False  # the address: a plain edit; the rest changes by events

    def save_by_service(self, request, obj, form, change):
        return services.household_create(
            kind=form.cleaned_data["kind"],
            address=form.cleaned_data["address"],
            region=form.cleaned_data["region"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )

    def get_urls(self):
        urls = event_urls(
            self,
            HOUSEHOLD_EVENTS,
            route="<int:object_id>/event/{slug}/",
            name="registry_household_{slug}",
        )
        urls.append(
            path(
                "<int:object_id>/print/",
                self.admin_site.admin_view(self.print_view),
                name="registry_household_print",
            )
        )
        return urls + super().get_urls()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            household = self.get_object(request, object_id)
            if household is not None:
                can_act = request.user.has_perm(EVENT_PERMISSION) and household.closed_on is None
                extra_context["event_links"] = [
                    (
                        spec.title,
                        reverse(f"admin:registry_household_{spec.slug}", args=[household.pk]),
                    )
                    for spec in HOUSEHOLD_EVENTS
                    if can_act and spec.applies(household)
                ]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """历史: the registration events that named this household, not Django's change log."""
        household = self.get_object(request, object_id)
        if household is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, household):
            raise PermissionDenied
        rows = household_event_rows(household)
        people = list(household.memberships.values_list("person_id", flat=True))
        if people:
            access_log_admin_read(
                request,
                channel="admin.household_history",
                person_ids=people,
                fields=["name", "registration_events"],
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"变更历史：户{household.number}",
            "subtitle": None,
            "object": household,
            "opts": self.opts,
            "events": rows,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/registry/household/history.html", context)

    def print_view(self, request, object_id: int):
        """户口簿 print view: a clean page, masked or full IDs by role, logged as a read."""
        household = self.get_queryset(request).filter(pk=object_id).select_related("region").first()
        if household is None:
            raise Http404("不存在或不在您的辖区内")
        if not self.has_view_permission(request, household):
            raise PermissionDenied
        full = request.user.has_perm(FULL_ID_PERMISSION)
        members = household_book(household, full_id=full)
        if members:
            access_log_admin_read(
                request,
                channel=print_channel(request, "admin.household_print"),
                person_ids=[m["person_id"] for m in members],
                fields=[
                    "name",
                    "citizen_id" if full else "masked_citizen_id",
                    "relation",
                    "sex",
                    "ethnicity",
                    "birth_date",
                    "former_names",
                    "birthplace",
                    "marital_status",
                    "arrival",
                ],
            )
        context = {"household": household, "members": members, "full_id": full}
        response = TemplateResponse(request, "admin/registry/household/print.html", context)
        return printable(request, response, f"户口簿_{household.number}.pdf")

    def audit_fields(self, request, obj):
        return ["name", "masked_citizen_id", "relation", "start_date", "end_date"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, JurisdictionAdminMixin, LargeTableAdmin):
    """Membership changes only through registration events (births, moves, splits...), which
    keep their event record; the admin shows memberships read-only."""

    list_display = ["masked_person", "household", "relation", "start_date", "end_date"]
    list_select_related = ["person", "household"]
    list_filter = ["relation"]
    search_fields = ["=household__number"]  # the search itself is get_search_results below
    search_help_text = "输入户号，或成员的公民身份号码、姓名（可加出生日期，或用拼音）"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        people = _people(request, term)
        return queryset.filter(Q(household__number=term) | Q(person__in=people)), False

    @admin.display(description="人员")
    def masked_person(self, obj: Membership) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"


@admin.register(RegistrationEvent)
class RegistrationEventAdmin(
    ReadOnlyAdminMixin, ListReadAuditMixin, JurisdictionAdminMixin, LargeTableAdmin
):
    """户籍登记事项: read-only; events are carried out from the person and household pages."""

    audit_channel = "admin.event"

    list_display = ["recorded_at", "kind", "masked_person", "effective_date", "officer", "reason"]
    list_filter = ["kind"]
    list_select_related = ["person", "officer"]
    date_hierarchy = "effective_date"
    ordering = ["-id"]
    fields = [
        "kind",
        "masked_person",
        "from_household",
        "to_household",
        "effective_date",
        "recorded_at",
        "officer",
        "reason",
        "document_type",
        "document_number",
        "details_shown",
    ]
    readonly_fields = fields

    @admin.display(description="登记内容")
    def details_shown(self, obj: RegistrationEvent) -> str:
        # masked here as in every list; the person page shows full numbers to roles allowed
        lines = event_lines(obj, full_id=False)
        return (
            "；".join(
                f"{label}：{old} → {new}" if old else f"{label}：{new}" for label, old, new in lines
            )
            or "—"
        )

    @admin.display(description="人员")
    def masked_person(self, obj: RegistrationEvent) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    def get_urls(self):
        return [
            *event_urls(
                self,
                PERSON_EVENTS,
                route="person/<int:object_id>/{slug}/",
                name="registry_person_{slug}",
            ),
            path(
                "person/<int:object_id>/register-form/",
                self.admin_site.admin_view(self.register_form_view),
                name="registry_person_register_form",
            ),
            path(
                "<int:object_id>/transfer-permit/",
                self.admin_site.admin_view(self.transfer_permit_view),
                name="registry_event_transfer_permit",
            ),
            *super().get_urls(),
        ]

    def register_form_view(self, request, object_id: int):
        """常住人口登记表: one person's card, printable; masked or full ID by role; logged."""
        if not request.user.has_perm("population.view_person"):
            raise PermissionDenied
        person = persons_within(request.user).filter(pk=object_id).first()
        if person is None:
            raise Http404("不存在或不在您的辖区内")
        full = request.user.has_perm(FULL_ID_PERMISSION)
        membership = (
            Membership.objects.filter(person=person, end_date__isnull=True)
            .select_related("household__region")
            .first()
        )
        fields = ["name", "citizen_id" if full else "masked_citizen_id", "card"]
        access_log_admin_read(
            request,
            channel=print_channel(request, "admin.print.register_form"),
            person_ids=[person.pk],
            fields=fields,
        )
        break_glass_accesses(request, person_ids=[person.pk], fields=fields)
        context = {
            "title": "常住人口登记表",
            "m": card(membership, person, full_id=full),
            "household": membership.household if membership else None,
            "person": person,
            "full_id": full,
        }
        response = TemplateResponse(request, "admin/registry/print/register_form.html", context)
        return printable(request, response, f"常住人口登记表_{person.pk}.pdf")

    def transfer_permit_view(self, request, object_id: int):
        """户口迁移证 of a move out, printable; logged."""
        if not request.user.has_perm("registry.view_registrationevent"):
            raise PermissionDenied
        event = (
            self.get_queryset(request)
            .filter(pk=object_id, kind=EventKind.MOVE_OUT)
            .select_related("person", "from_household__region", "officer")
            .first()
        )
        if event is None:
            raise Http404("不存在或不在您的辖区内")
        full = request.user.has_perm(FULL_ID_PERMISSION)
        person = event.person
        fields = ["name", "citizen_id" if full else "masked_citizen_id", "transfer_permit"]
        access_log_admin_read(
            request,
            channel=print_channel(request, "admin.print.transfer_permit"),
            person_ids=[person.pk],
            fields=fields,
        )
        context = {
            "title": "户口迁移证",
            "event": event,
            "person": person,
            "citizen_id": person.citizen_id if full else mask_citizen_id(person.citizen_id),
            "relation": Membership.objects.filter(
                person=person, household=event.from_household, end_date=event.effective_date
            )
            .values_list("relation", flat=True)
            .first(),
            "officer": staff_name(event.officer, nobody="系统"),
            "full_id": full,
        }
        if context["relation"]:
            context["relation"] = Relation(context["relation"]).label
        response = TemplateResponse(request, "admin/registry/print/transfer_permit.html", context)
        return printable(request, response, f"户口迁移证_{event.document_number or event.pk}.pdf")

    list_audit_channel = "admin.event_list"
    list_audit_fields = ["name", "masked_citizen_id", "kind", "effective_date"]

    def audit_fields(self, request, obj):
        return ["name", "masked_citizen_id", *self.fields[2:]]


class DecideCorrectionForm(forms.Form):
    note = forms.CharField(
        label="审批意见",
        max_length=200,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="驳回时必填",
    )


DECIDE_PERMISSION = "registry.decide_correction"


@admin.register(Correction)
class CorrectionAdmin(
    ReadOnlyAdminMixin, ListReadAuditMixin, JurisdictionAdminMixin, LargeTableAdmin
):
    """变更更正登记审批: officers propose from the person page; supervisors approve or refuse."""

    list_display = [
        "proposed_at",
        "masked_person",
        "field",
        "change",
        "status",
        "proposer",
        "decider",
    ]
    list_filter = ["status", "field"]
    list_select_related = ["person", "proposed_by", "decided_by"]
    ordering = ["-id"]
    fields = [
        "masked_person",
        "field",
        "change",
        "document_type",
        "document_number",
        "reason",
        "status",
        "proposer",
        "proposed_at",
        "decider",
        "decided_at",
        "decision_note",
    ]
    readonly_fields = fields

    @admin.display(description="申请民警")
    def proposer(self, obj: Correction) -> str:
        return staff_name(obj.proposed_by, nobody="系统")

    @admin.display(description="审批人")
    def decider(self, obj: Correction) -> str:
        return staff_name(obj.decided_by)

    change_form_template = "admin/registry/correction/change_form.html"

    @admin.display(description="人员")
    def masked_person(self, obj: Correction) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    @admin.display(description="原内容 → 更正为")
    def change(self, obj: Correction, full: bool = False) -> str:
        # masked in the list and record; the decision page shows full numbers to roles allowed
        old = correction_value_display(obj.field, obj.old_value, full_id=full)
        new = correction_value_display(obj.field, obj.new_value, full_id=full)
        return f"{old} → {new}"

    def get_urls(self):
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="registry_correction_decide",
            ),
            *super().get_urls(),
        ]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if object_id is not None:
            correction = self.get_object(request, object_id)
            extra_context["can_decide"] = (
                correction is not None
                and correction.status == CorrectionStatus.PENDING
                and request.user.has_perm(DECIDE_PERMISSION)
                and correction.proposed_by_id != request.user.pk
            )
        return super().changeform_view(request, object_id, form_url, extra_context)

    list_audit_channel = "admin.correction_list"
    list_audit_fields = ["name", "masked_citizen_id", "field", "old_value", "new_value"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        correction = getattr(response, "context_data", {}).get("original")
        if correction is not None:
            access_log_admin_read(
                request,
                channel="admin.correction",
                person_ids=[correction.person_id],
                fields=["name", "masked_citizen_id", "field", "old_value", "new_value"],
            )
        return response

    def decide_view(self, request, object_id: int):
        """批准 or 驳回 one pending correction (supervisors; never the proposer)."""
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied
        correction = self.get_queryset(request).filter(pk=object_id).first()
        if correction is None:
            raise Http404("不存在或不在您的辖区内")
        back = reverse("admin:registry_correction_change", args=[correction.pk])
        form = DecideCorrectionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decision = request.POST.get("decision")
            note = form.cleaned_data["note"]
            try:
                if decision == "approve":
                    services.correction_approve(
                        correction=correction, actor=request.user, note=note
                    )
                    messages.success(
                        request, f"已批准：{self.change(correction)}，已记入户籍登记事项"
                    )
                    return HttpResponseRedirect(
                        reverse("admin:population_person_change", args=[correction.person_id])
                    )
                if decision == "refuse":
                    services.correction_refuse(correction=correction, actor=request.user, note=note)
                    messages.success(request, "已驳回此更正，人员信息未改变")
                    return HttpResponseRedirect(back)
                form.add_error(None, "请选择批准或驳回")
            except DomainError as exc:
                form.add_error("note" if exc.code == "reason_required" else None, exc.message_zh)
        access_log_admin_read(
            request,
            channel="admin.correction_decide",
            person_ids=[correction.person_id],
            fields=["name", "masked_citizen_id", "field", "old_value", "new_value"],
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "审批变更更正登记",
            "correction": correction,
            "change": self.change(correction, request.user.has_perm(FULL_ID_PERMISSION)),
            "proposer": staff_name(correction.proposed_by, nobody="系统"),
            "form": form,
            "back": back,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/registry/correction/decide.html", context)


for _spec in PERSON_EVENTS:
    person_page_action_hook.register(
        PageAction(_spec.title, f"admin:registry_person_{_spec.slug}", EVENT_PERMISSION)
    )
person_page_section_hook.register(person_hukou_section)
person_page_action_hook.register(
    PageAction(
        "打印常住人口登记表",
        "admin:registry_person_register_form",
        "population.view_person",
        active_only=False,
    )
)


from registry import admin_quality  # noqa: E402, F401  (review queue, merges, figures)
