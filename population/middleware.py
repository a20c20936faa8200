"""Request middleware of the base library."""

from __future__ import annotations

from population.admin_links import serving_request
from population.jurisdiction import serving_staff


class ServingStaffMiddleware:
    """Marks requests of signed-in staff, so a write service called for them without the
    acting user (``actor=None``, the system's own identity) is refused instead of acting
    unscoped (see ``population.jurisdiction.actor_require_within``); and keeps the request
    for the admin's read-only links (``population.admin_links``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with serving_staff(getattr(request, "user", None)), serving_request(request):
            return self.get_response(request)
