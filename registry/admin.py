"""Admin for households and memberships (Chinese UI)."""

from __future__ import annotations

from django.contrib import admin

from population.admin_utils import LargeTableAdmin
from population.audit import access_log_admin_read
from population.identity import mask_citizen_id
from population.jurisdiction import JurisdictionAdminMixin
from registry.jurisdiction import event_q, household_q, membership_q
from registry.models import Household, Membership, RegistrationEvent


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["person_link", "relation", "start_date", "end_date"]
    readonly_fields = ["person_link", "relation", "start_date", "end_date"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "户成员（成员变动须通过户籍登记事项办理）"

    @admin.display(description="人员")
    def person_link(self, obj: Membership) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("person")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Household)
class HouseholdAdmin(JurisdictionAdminMixin, LargeTableAdmin):
    list_display = ["number", "kind", "address", "region", "closed_on"]
    list_filter = ["kind"]
    list_select_related = ["region"]
    search_fields = ["=number", "address"]
    search_help_text = "输入户号精确查找，或住址关键词"
    autocomplete_fields = ["region"]
    inlines = [MembershipInline]

    def jurisdiction_q(self, area):
        return household_q(area)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        household = getattr(response, "context_data", {}).get("original")
        if household is not None:
            members = household.memberships.values_list("person_id", flat=True)
            if members:
                access_log_admin_read(
                    request,
                    channel="admin.household",
                    person_ids=list(members),
                    fields=["name", "masked_citizen_id", "relation", "start_date", "end_date"],
                )
        return response


@admin.register(Membership)
class MembershipAdmin(JurisdictionAdminMixin, LargeTableAdmin):
    list_display = ["masked_person", "household", "relation", "start_date", "end_date"]
    list_select_related = ["person", "household"]
    raw_id_fields = ["person", "household"]
    list_filter = ["relation"]

    def jurisdiction_q(self, area):
        return membership_q(area)

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

    def jurisdiction_q(self, area):
        return event_q(area)

    @admin.display(description="人员")
    def masked_person(self, obj: RegistrationEvent) -> str:
        return f"{obj.person.name}（{mask_citizen_id(obj.person.citizen_id)}）"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        event = getattr(response, "context_data", {}).get("original")
        if event is not None:
            access_log_admin_read(
                request,
                channel="admin.event",
                person_ids=[event.person_id],
                fields=["name", "masked_citizen_id", *self.fields[2:]],
            )
        return response
