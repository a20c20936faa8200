"""Request middleware of the base library."""

from __future__ import annotations

from pghistory.middleware import HistoryMiddleware as _PghistoryMiddleware

from population.admin_links import serving_request
from population.jurisdiction import serving_staff

# Department API requests that write nothing pghistory tracks: reads (GET, HEAD) and identity
# verification, whose only write is the access-log row (append-only, chained by the sealer, not
# a tracked model). tests/sharing/test_history_context.py checks both halves of that.
UNTRACKED_REQUESTS = (
    (("GET", "HEAD"), "/api/v1/"),
    (("POST",), "/api/v1/verifications"),
)


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


class HistoryMiddleware(_PghistoryMiddleware):
    """pghistory's middleware (the user and URL on the history rows of a request's writes),
    except for requests that write nothing tracked (``UNTRACKED_REQUESTS``): there the context
    would only be injected into every statement that is not a SELECT (the access-log write of
    an audited read), for no row."""

    def __call__(self, request):
        for methods, prefix in UNTRACKED_REQUESTS:
            if request.method in methods and request.path.startswith(prefix):
                return self.get_response(request)
        return super().__call__(request)
