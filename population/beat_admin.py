"""The system's periodic tasks (django-celery-beat) are a superuser's to edit and run.

Supervisors may still read the schedules (their roles keep view permission), but adding,
changing, deleting, enabling or running a task from the admin needs a superuser: a schedule
runs for the whole city, beyond any one supervisor's area.
"""

from __future__ import annotations

from django.contrib import admin


class SuperuserOnlyChangesMixin:
    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def get_actions(self, request):
        return super().get_actions(request) if request.user.is_superuser else {}


def beat_admins_restrict(site: admin.AdminSite = admin.site) -> None:
    """Re-register django-celery-beat's admins with superuser-only changes and actions."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != "django_celery_beat":
            continue
        if isinstance(model_admin, SuperuserOnlyChangesMixin):
            continue
        restricted = type(
            f"SuperuserOnly{type(model_admin).__name__}",
            (SuperuserOnlyChangesMixin, type(model_admin)),
            {},
        )
        site.unregister(model)
        site.register(model, restricted)
