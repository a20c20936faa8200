"""Admin helpers shared by the apps."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

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


class LargeTableAdmin(admin.ModelAdmin):
    """Base for admins of tables that grow to millions of rows and whose rows are never deleted.

    Lists page on the planner's estimate instead of COUNT(*); removal happens through domain
    events (death, cancellation, closing a household), never through the admin's delete.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts (显示计数) would COUNT every filter option over the whole table on each page.
    show_facets = admin.ShowFacets.NEVER

    def has_delete_permission(self, request, obj=None):
        return False


@dataclass(frozen=True)
class PageAction:
    """A button on the person page that a higher app contributes (population imports no app)."""

    label: str
    url_name: str  # reversed with the person's primary key
    permission: str
    active_only: bool = True  # offered only for a living, not cancelled person


_person_page_actions: list[PageAction] = []


def person_page_action_register(action: PageAction) -> None:
    if action not in _person_page_actions:
        _person_page_actions.append(action)


def person_page_actions(request, object_id, *, active: bool) -> list[tuple[str, str]]:
    """(label, url) of the actions the user may take from a person's page."""
    from django.urls import reverse

    return [
        (a.label, reverse(a.url_name, args=[object_id]))
        for a in _person_page_actions
        if request.user.has_perm(a.permission) and (active or not a.active_only)
    ]
