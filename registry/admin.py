"""Admin for households and memberships (Chinese UI)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path

from population.admin_utils import LargeTableAdmin, PageAction, person_page_action_register
from population.audit import access_log_admin_read
from population.errors import DomainError
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin, region_required_within
from population.models import RegionLevel
from registry import services
from registry.admin_events import (
    EVENT_PERMISSION,
    HOUSEHOLD_EVENTS,
    PERSON_EVENTS,
    event_view,
    household_book,
)
from registry.models import Household, Membership, RegistrationEvent

FULL_ID_PERMISSION = "population.view_full_citizen_id"


class MembershipInline(admin.TabularInline):
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

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


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
class HouseholdAdmin(JurisdictionAdminMixin, LargeTableAdmin):
    change_form_template = "admin/registry/household/change_form.html"
    list_display = ["number", "kind", "address", "region", "closed_on"]
    list_filter = ["kind"]
    list_select_related = ["region"]
    search_fields = ["=number", "address"]
    search_help_text = "输入户号精确查找，或住址关键词"
    autocomplete_fields = ["region"]
    inlines = [MembershipInline]

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

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        try:
            saved = services.household_create(
                kind=form.cleaned_data["kind"],
                address=form.cleaned_data["address"],
                region=form.cleaned_data["region"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            messages.error(request, exc.message_zh)
            raise
        obj.__dict__.update(saved.__dict__)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError:
            # save_model put the reason in a message; the transaction rolled back.
            return HttpResponseRedirect(request.get_full_path())

    def get_urls(self):
        urls = [
            path(
                f"<int:object_id>/event/{spec.slug}/",
                self.admin_site.admin_view(
                    lambda request, object_id, spec=spec: event_view(self, request, object_id, spec)
                ),
                name=f"registry_household_{spec.slug}",
            )
            for spec in HOUSEHOLD_EVENTS
        ]
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
                    (spec.title, f"event/{spec.slug}/")
                    for spec in HOUSEHOLD_EVENTS
                    if can_act and spec.applies(household)
                ]
        return super().changeform_view(request, object_id, form_url, extra_context)

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
                channel="admin.household_print",
                person_ids=[m["person_id"] for m in members],
                fields=[
                    "name",
                    "citizen_id" if full else "masked_citizen_id",
                    "relation",
                    "sex",
                    "ethnicity",
                    "birth_date",
                ],
            )
        context = {"household": household, "members": members, "full_id": full}
        return TemplateResponse(request, "admin/registry/household/print.html", context)

    def audit_fields(self, request, obj):
        return ["name", "masked_citizen_id", "relation", "start_date", "end_date"]


@admin.register(Membership)
class MembershipAdmin(JurisdictionAdminMixin, LargeTableAdmin):
    list_display = ["masked_person", "household", "relation", "start_date", "end_date"]
    list_select_related = ["person", "household"]
    raw_id_fields = ["person", "household"]
    list_filter = ["relation"]

    @admin.display(description="人员")
    def masked_person(self, obj: Membership) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    # Membership changes only through registration events (births, moves, splits...), which
    # keep their event record; the admin shows memberships read-only.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RegistrationEvent)
class RegistrationEventAdmin(JurisdictionAdminMixin, LargeTableAdmin):
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
        "details",
    ]
    readonly_fields = fields

    @admin.display(description="人员")
    def masked_person(self, obj: RegistrationEvent) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                f"person/<int:object_id>/{spec.slug}/",
                self.admin_site.admin_view(
                    lambda request, object_id, spec=spec: event_view(self, request, object_id, spec)
                ),
                name=f"registry_person_{spec.slug}",
            )
            for spec in PERSON_EVENTS
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and changelist.result_list:
            access_log_admin_read(
                request,
                channel="admin.event_list",
                person_ids=[e.person_id for e in changelist.result_list],
                fields=["name", "masked_citizen_id", "kind", "effective_date"],
            )
        return response

    def audit_fields(self, request, obj):
        return ["name", "masked_citizen_id", *self.fields[2:]]


for _spec in PERSON_EVENTS:
    person_page_action_register(
        PageAction(_spec.title, f"admin:registry_person_{_spec.slug}", EVENT_PERMISSION)
    )


from registry import admin_quality  # noqa: E402, F401  (review queue, merges, figures)
