"""Department API requests that carry no pghistory context write nothing pghistory tracks.

population.middleware.HistoryMiddleware leaves them out (``UNTRACKED_REQUESTS``) so that the
access-log write of an audited read is not prefixed with the context statement: these tests
are what allows it. A tracked write inside such a request would get a history row without the
request's user and URL; none happens.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from population.middleware import UNTRACKED_REQUESTS
from tests.sharing.conftest import Caller

pytestmark = pytest.mark.django_db

_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?([a-z0-9_]+)\"?", re.I)


def _event_models():
    return [m for m in apps.get_models() if hasattr(m, "pgh_tracked_model")]


def _tracked_tables() -> set[str]:
    return {m.pgh_tracked_model._meta.db_table for m in _event_models()}


def _events() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in _event_models()}


def _untracked(method: str, path: str) -> bool:
    return any(method in ms and path.startswith(prefix) for ms, prefix in UNTRACKED_REQUESTS)


def test_the_person_table_is_tracked_so_the_check_below_can_fail():
    assert "population_person" in _tracked_tables()
    assert not _untracked("POST", "/api/v1/settlement/precheck")
    assert not _untracked("POST", "/api/v1/feeds/hrss/batches")
    assert _untracked("GET", "/api/v1/persons/11010519491231002X")


def test_untracked_api_requests_write_no_tracked_table(make_client, make_person, village):
    person = make_person(hukou_region=village)
    _client, key = make_client()
    caller = Caller(key)
    requests = [
        ("GET", f"/api/v1/persons/{person.citizen_id}", None),
        ("GET", "/api/v1/persons/11010519491231002X", None),  # nobody: 404
        ("GET", f"/api/v1/persons/{person.citizen_id}/facts/alive", None),
        ("GET", f"/api/v1/persons/{person.citizen_id}/reads", None),
        ("GET", "/api/v1/changes", None),
        ("GET", "/api/v1/statistics/urbanization", None),
        ("POST", "/api/v1/verifications", {"citizen_id": person.citizen_id, "name": person.name}),
        (
            "POST",
            "/api/v1/verifications",
            {"items": [{"citizen_id": person.citizen_id, "name": "别人"}]},
        ),
    ]
    tracked = _tracked_tables()
    before = _events()
    statuses = []
    with CaptureQueriesContext(connection) as captured:
        for method, path, body in requests:
            assert _untracked(method, path)
            statuses.append(caller.request(method, path, body).status_code)

    assert statuses[0] == 200 and statuses[1] == 404 and statuses[-1] == 200
    written = {t.lower() for q in captured.captured_queries for t in _WRITE.findall(q["sql"])}
    assert "population_accesslog" in written  # the reads were logged ...
    assert not written & tracked  # ... and nothing tracked was written
    assert _events() == before  # not by a trigger either


def test_a_history_context_is_still_attached_outside_the_untracked_requests(rf):
    from population.middleware import HistoryMiddleware

    seen = []

    def view(request):
        import pghistory.runtime

        seen.append(getattr(pghistory.runtime._tracker, "value", None) is not None)
        from django.http import HttpResponse

        return HttpResponse()

    middleware = HistoryMiddleware(view)
    middleware(rf.post("/api/v1/feeds/hrss/batches"))
    middleware(rf.get("/admin/population/person/"))
    middleware(rf.get("/api/v1/changes"))
    middleware(rf.post("/api/v1/verifications"))
    assert seen == [True, True, False, False]
