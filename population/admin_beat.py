"""The system's periodic tasks (django-celery-beat) are a superuser's job.

Department schedules and the beat jobs run with the system's identity (``actor=None``), city
wide: whoever edits or runs them acts beyond any area. The beat admins are re-registered so
that only superusers see, change or run them, whatever permissions a role was given.
"""

from __future__ import annotations

from django.contrib import admin
from django_celery_beat import models as beat


def _superuser_only(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    class SuperuserOnly(admin_class):  # type: ignore[valid-type,misc]
        def has_module_permission(self, request):
            return request.user.is_active and request.user.is_superuser

        def has_view_permission(self, request, obj=None):
            return self.has_module_permission(request)

        def has_add_permission(self, request, *args):
            return self.has_module_permission(request)

        def has_change_permission(self, request, obj=None):
            return self.has_module_permission(request)

        def has_delete_permission(self, request, obj=None):
            return self.has_module_permission(request)

    SuperuserOnly.__name__ = SuperuserOnly.__qualname__ = f"SuperuserOnly{admin_class.__name__}"
    return SuperuserOnly


BEAT_MODELS = (
    beat.PeriodicTask,
    beat.IntervalSchedule,
    beat.CrontabSchedule,
    beat.SolarSchedule,
    beat.ClockedSchedule,
)

for _model in BEAT_MODELS:
    if admin.site.is_registered(_model):
        _current = type(admin.site._registry[_model])
        admin.site.unregister(_model)
        admin.site.register(_model, _superuser_only(_current))
