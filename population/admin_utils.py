"""Admin helpers shared by the apps."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import InvalidPage, Paginator
from django.db import connection
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property

from population.errors import DomainError
from population.hooks import Hook

ESTIMATE_ABOVE = 50_000


class EstimatedCountPaginator(Paginator):
    """Unfiltered lists of big tables use the planner's row estimate instead of COUNT(*).

    A COUNT over a million people takes a noticeable fraction of a second on every page; the
    estimate is exact enough to page through, and filtered lists still count exactly.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


def exact_count_limit() -> int:
    return max(1, int(getattr(settings, "ADMIN_EXACT_COUNT_LIMIT", 10_000)))


class CappedCountPaginator(EstimatedCountPaginator):
    """Filtered and area-scoped lists count exactly only up to ``ADMIN_EXACT_COUNT_LIMIT``.

    One query, ``SELECT count(*) FROM (<the list> LIMIT cap+1)``, stops after ``cap + 1`` rows:
    at or under the cap it is the exact count; over it the list says "more than cap" (``capped``)
    and pages up to the cap. A county's million persons are never counted for a page of 50, and
    the planner's estimate of a scoped list (2x off at 5M) is never shown as a count.
    """

    capped = False

    @cached_property
    def cap(self) -> int:
        return exact_count_limit()

    @property
    def cap_text(self) -> str:
        return f"{self.cap:,}"

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None or not query.where:
            return super().count
        found = queryset.order_by().values("pk")[: self.cap + 1].count()
        if found > self.cap:
            self.capped = True
            return self.cap
        return found


class CappedChangeList(ChangeList):
    """A list over the cap shows its pages only: no "show all" of an uncounted list."""

    def get_results(self, request):
        super().get_results(request)
        if getattr(self.paginator, "capped", False):
            self.can_show_all = False
            self.show_all = False
            # The search bar's "N 条结果" would show the cap as a count: hidden (it shows only
            # while result_count != full_result_count); the paginator line says "超过 N".
            self.full_result_count = self.result_count
            self.multi_page = True
            try:
                self.result_list = self.paginator.page(self.page_num).object_list
            except InvalidPage:
                raise IncorrectLookupParameters from None


class LargeTableAdmin(admin.ModelAdmin):
    """Base for admins of tables that grow to millions of rows and whose rows are never deleted.

    Lists page on the planner's estimate instead of COUNT(*); admins of personal data (under the
    area rule) count a filtered or scoped list only up to a cap (``CappedCountPaginator``).
    Removal happens through domain events (death, cancellation, closing a household), never
    through the admin's delete.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts (显示计数) would COUNT every filter option over the whole table on each page.
    show_facets = admin.ShowFacets.NEVER

    def has_delete_permission(self, request, obj=None):
        return False

    def _area_scoped(self) -> bool:
        from population.jurisdiction import JurisdictionAdminMixin

        return isinstance(self, JurisdictionAdminMixin)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = CappedCountPaginator if self._area_scoped() else self.paginator
        return paginator(queryset, per_page, orphans, allow_empty_first_page)

    def get_changelist(self, request, **kwargs):
        if self._area_scoped():
            return CappedChangeList
        return super().get_changelist(request, **kwargs)


def staff_name(user, *, nobody: str = "—") -> str:
    """A staff member as colleagues know them: the full name, else the account name;
    ``nobody`` when there is no one (the system acted, or no one has yet)."""
    if user is None:
        return nobody
    return user.get_full_name() or user.username


class ReadOnlyAdminMixin:
    """An admin (or inline) that only shows its records: they are written by services, tasks,
    loaders or triggers, never added, changed or deleted on an admin page."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceSaveAdminMixin:
    """An admin whose save is a service call, never ``ModelForm.save``.

    ``save_by_service`` calls the service and returns the record it wrote (or ``None`` when
    there is nothing to take over, e.g. a decision recorded elsewhere); the admin's object
    takes the saved record's values, so its message, log entry and redirect name it. A
    ``DomainError`` is shown as a message (``refusal_message``), the transaction rolls back and
    the form page is shown again: nothing is left written. With ``changes_by_service`` off, a
    change (not an add) is a plain save.
    """

    changes_by_service = True

    def save_by_service(self, request, obj, form, change):
        raise NotImplementedError

    def refusal_message(self, exc: DomainError) -> str:
        return exc.message_zh

    def save_model(self, request, obj, form, change):
        if change and not self.changes_by_service:
            return super().save_model(request, obj, form, change)  # type: ignore[misc]
        try:
            saved = self.save_by_service(request, obj, form, change)
        except DomainError as exc:
            messages.error(request, self.refusal_message(exc))
            raise  # changeform_view turns it into a redirect back to the form
        if saved is not None and saved is not obj:
            obj.__dict__.update(saved.__dict__)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except DomainError:
            # The form validated but the service refused: the transaction rolled back and
            # save_model has put the reason in a message.
            return HttpResponseRedirect(request.get_full_path())


class CreateOnlyAdminMixin:
    """Records added through the admin and never edited there (corrections are new records or
    domain actions): the change page shows ``change_fields`` (default: every model field), all
    read-only; the add page shows ``add_fields`` (default: the form's)."""

    add_fields: list[str] | None = None
    change_fields: list[str] | None = None

    def get_fields(self, request, obj=None):
        if obj is not None:
            return list(self.change_fields or [f.name for f in self.model._meta.fields])  # type: ignore[attr-defined]
        if self.add_fields is not None:
            return list(self.add_fields)
        return super().get_fields(request, obj)  # type: ignore[misc]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # type: ignore[misc]


@dataclass(frozen=True)
class PageAction:
    """A button on the person page that a higher app contributes (population imports no app)."""

    label: str
    url_name: str  # reversed with the person's primary key
    permission: str
    active_only: bool = True  # offered only for a living, not cancelled person


# Higher apps register their buttons from their admin modules: keyed by the URL name.
person_page_action_hook: Hook[PageAction] = Hook(
    "population.person_page_actions", key=lambda action: action.url_name
)


def person_page_actions(request, object_id, *, active: bool) -> list[tuple[str, str]]:
    """(label, url) of the actions the user may take from a person's page."""
    from django.urls import reverse

    return [
        (a.label, reverse(a.url_name, args=[object_id]))
        for a in person_page_action_hook
        if request.user.has_perm(a.permission) and (active or not a.active_only)
    ]
