"""Read-only foreign keys on admin pages link only where the reader may go.

Django's admin shows a read-only foreign key (a record's 经办人, 创建人, 辖区 …) as a link to
the related record's change page whatever the reader's permissions, so a registration officer
clicking an officer's name on a permit lands on a 403 (only superusers may view user accounts).
``install`` makes such a field a link only when the signed-in user may view the related record
through its admin; otherwise it shows the record's name as text. Staff accounts are shown by
their full name (else the login name), as colleagues know them.

Django's ``AdminReadonlyField`` is not given the request, so the request being served is kept
in a context variable by ``population.middleware.ServingStaffMiddleware``.
"""

from __future__ import annotations

import contextlib
import contextvars

from django.contrib.admin import helpers
from django.contrib.auth import get_user_model

_current_request = contextvars.ContextVar("popbase_admin_request", default=None)


@contextlib.contextmanager
def serving_request(request):
    """Make ``request`` the one read-only links are decided for (see module docstring)."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def record_name(obj) -> str:
    """How a related record reads as text: staff by their name, anything else by ``str``."""
    if isinstance(obj, get_user_model()):
        return obj.get_full_name() or obj.get_username()
    return str(obj)


def may_view(request, model_admin, obj) -> bool:
    """Whether the page's reader may open ``obj`` through its admin on this site."""
    target = model_admin.admin_site._registry.get(type(obj)) if model_admin else None
    if target is None:
        return False
    return target.has_view_or_change_permission(request, obj)


_django_get_admin_url = helpers.AdminReadonlyField.get_admin_url


def _get_admin_url(self, remote_field, remote_obj):
    request = _current_request.get()
    if request is None:  # rendered outside a request (no reader to decide for)
        return _django_get_admin_url(self, remote_field, remote_obj)
    if not may_view(request, self.model_admin, remote_obj):
        return record_name(remote_obj)
    return _django_get_admin_url(self, remote_field, remote_obj)


def install() -> None:
    """Called once from ``PopulationConfig.ready``."""
    helpers.AdminReadonlyField.get_admin_url = _get_admin_url
