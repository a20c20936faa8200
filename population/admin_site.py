"""The admin site of popbase: Django's, with autocomplete answers on the access log.

Every ``autocomplete_fields`` on Person (居住证, 合并, 落户 …) asks Django's one autocomplete
view, which answers with the names and masked citizen IDs of up to 20 persons per keystroke:
a read of personal data like a list page, so each answer is logged through the access-log
service (``population.audit.access_log_admin_read``), naming the persons it showed.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.views.autocomplete import AutocompleteJsonView


class AccessLoggedAutocompleteJsonView(AutocompleteJsonView):
    """Django's autocomplete answer, logged when it shows persons (models with an area rule)."""

    audit_fields = ["name", "masked_citizen_id"]

    def audit_channel(self) -> str:
        return f"admin.{self.model_admin.opts.model_name}_autocomplete"

    def audit_persons(self, objects) -> list[int]:
        from population.jurisdiction import area_rule_of

        rule = area_rule_of(self.model_admin.model)
        if rule is None:
            return []
        return [pk for obj in objects for pk in rule.persons(obj) if pk is not None]

    def get_context_data(self, *args, **kwargs):
        from population.audit import access_log_admin_read

        context = super().get_context_data(*args, **kwargs)
        person_ids = self.audit_persons(context["object_list"])
        if person_ids:
            access_log_admin_read(
                self.request,
                channel=self.audit_channel(),
                person_ids=person_ids,
                fields=self.audit_fields,
            )
        return context


class PopbaseAdminSite(AdminSite):
    # Django's index with a link to the signed-in user's second factors (两步验证与安全密钥).
    index_template = "admin/popbase_index.html"

    def autocomplete_view(self, request):
        return AccessLoggedAutocompleteJsonView.as_view(admin_site=self)(request)


class PopbaseAdminConfig(AdminConfig):
    """``django.contrib.admin`` with ``PopbaseAdminSite`` as ``admin.site``."""

    default_site = "population.admin_site.PopbaseAdminSite"
