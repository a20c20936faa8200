"""Every department endpoint proves the same contract: 401, 403, 400 purpose, 405, 429, the
error shape, and that a refused request leaves no access record.

A new endpoint adds one ``Spec`` row; the test below fails if an endpoint has none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, get_resolver
from django.utils import timezone

from population.models import AccessLog
from population.sharing.models import ApiKey
from population.sharing.scopes import Endpoint, endpoint_hook
from settlement.api import PRECHECK_ENDPOINT
from tests.sharing.conftest import Caller, assert_error


@dataclass(frozen=True)
class Spec:
    name: str  # URL name
    endpoint: str  # scope code
    method: str
    path: Callable[[str], str]  # citizen ID -> path
    body: Callable[[str], dict | str] | None = None
    wrong_method: str = "DELETE"
    content_type: str | None = None  # a raw body (a file) instead of JSON
    ok_status: int = 200
    purpose: str = "social_insurance"  # a purpose the endpoint answers


EMPLOYMENT_V1 = "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"


def employment_csv(cid: str) -> str:
    return f"{EMPLOYMENT_V1}R1,{cid},张三,某公司,91440700MA00000000,2024-01-01,\n"


def hrss_batch_path(cid: str) -> str:
    """A batch of the default client's department (the same bytes: always the same batch)."""
    from population.sync.services import batch_receive

    content = employment_csv(cid).encode()
    batch = batch_receive(department="hrss", content=content, filename="employment.csv",
                          fmt=None, source="api", enqueue=False)  # fmt: skip
    return f"/api/v1/feeds/hrss/batches/{batch.pk}"


def urbanization_path(cid: str) -> str:
    """The city's figures of December 2020 (a stored snapshot, as the monthly task leaves)."""
    from population.statistics.models import StatSnapshot

    StatSnapshot.objects.get_or_create(
        month="2020-12-31", region_code="441800000000",
        defaults={"level": 2, "registered_total": 100, "registered_urban": 40,
                  "resident_total": 120, "resident_urban": 60},
    )  # fmt: skip
    return "/api/v1/statistics/urbanization?region=441800000000&month=2020-12"


SPECS = [
    Spec("person", Endpoint.PERSONS, "GET", lambda cid: f"/api/v1/persons/{cid}"),
    # Only on the person's own request (PIPL art. 45), so only with that purpose.
    Spec(
        "person_reads",
        Endpoint.PERSON_READS,
        "GET",
        lambda cid: f"/api/v1/persons/{cid}/reads",
        purpose="data_subject_request",
    ),
    Spec(
        "fact",
        Endpoint.FACTS,
        "GET",
        lambda cid: f"/api/v1/persons/{cid}/facts/local_hukou",
        wrong_method="POST",
    ),
    Spec(
        "verifications",
        Endpoint.VERIFICATIONS,
        "POST",
        lambda cid: "/api/v1/verifications",
        body=lambda cid: {"citizen_id": cid, "name": "张三"},
        wrong_method="GET",
    ),
    Spec("changes", Endpoint.CHANGES, "GET", lambda cid: "/api/v1/changes", wrong_method="PUT"),
    Spec(
        "feed_batches",
        Endpoint.FEEDS,
        "POST",
        lambda cid: "/api/v1/feeds/hrss/batches?filename=employment_2025.csv",
        body=employment_csv,
        wrong_method="GET",
        content_type="text/csv",
        ok_status=202,
    ),
    Spec("feed_batch", Endpoint.FEEDS, "GET", hrss_batch_path, wrong_method="POST"),
    Spec("statistics_urbanization", Endpoint.STATISTICS, "GET", urbanization_path),
    # In the settlement app (population never imports it), on the same base view.
    Spec(
        "settlement_precheck",
        PRECHECK_ENDPOINT.name,
        "POST",
        lambda cid: "/api/v1/settlement/precheck",
        body=lambda cid: {"city_code": "440700", "date": "2019-03-01", "facts": {}},
        wrong_method="GET",
    ),
]
ids = [s.name for s in SPECS]


def test_every_sharing_endpoint_has_a_row_in_the_matrix():
    names = {p.name for p in get_resolver("population.sharing.api.urls").url_patterns}
    # Endpoints of higher apps are routed in config/urls.py on the same base view.
    others = {
        p.name
        for p in get_resolver().url_patterns
        if isinstance(p, URLPattern) and str(p.pattern).startswith("api/v1/")
    }
    assert names | others == {s.name for s in SPECS}
    assert {s.endpoint for s in SPECS} == set(endpoint_hook.keys())


@pytest.fixture
def person(make_person, village):
    return make_person(hukou_region=village)


def call(spec: Spec, caller: Caller, cid: str, method: str | None = None, **extra):
    body = spec.body(cid) if spec.body else None
    method = method or spec.method
    if spec.content_type and method == spec.method:
        fn = getattr(caller.http, method.lower())
        return fn(spec.path(cid), body, content_type=spec.content_type, **caller.headers(**extra))
    return caller.request(method, spec.path(cid), body, **extra)


def _refused(spec, caller, cid, status, code, **extra):
    before = AccessLog.objects.count()
    response = call(spec, caller, cid, **extra)
    body = assert_error(response, status, code)
    assert AccessLog.objects.count() == before, "a refused request must not be logged as a read"
    return response, body


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_allowed_call_answers_and_echoes_the_request_id(spec, make_client, person):
    _client, key = make_client(purposes=[spec.purpose])
    response = call(
        spec, Caller(key, spec.purpose), person.citizen_id, HTTP_X_REQUEST_ID="req-123.abc"
    )
    assert response.status_code == spec.ok_status, response.content
    assert response["X-Request-ID"] == "req-123.abc"
    assert response["X-RateLimit-Limit"] == "600"


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_no_key_is_401(spec, person):
    response, _ = _refused(spec, Caller(None), person.citizen_id, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("spec", SPECS, ids=ids)
@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer abc.def", "bad_authorization_header"),
        ("Basic dXNlcjpwYXNz", "bad_authorization_header"),
        ("Api-Key nodot", "bad_authorization_header"),
        ("Api-Key abcdefgh.wrongsecret", "invalid_api_key"),
    ],
)
def test_bad_or_unknown_key_is_401(spec, header, code, make_client, person):
    make_client(purposes=[spec.purpose])
    _refused(spec, Caller(None), person.citizen_id, 401, code, HTTP_AUTHORIZATION=header)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_right_prefix_wrong_secret_is_401(spec, make_client, person):
    _client, key = make_client(purposes=[spec.purpose])
    prefix = key.split(".")[0]
    _refused(
        spec,
        Caller(f"{prefix}.{'x' * 32}", spec.purpose),
        person.citizen_id,
        401,
        "invalid_api_key",
    )


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_revoked_key_is_401(spec, make_client, person):
    from population.sharing.services import api_key_revoke

    _client, key = make_client(purposes=[spec.purpose])
    api_key_revoke(prefix=key.split(".")[0], actor=None)
    _refused(spec, Caller(key, spec.purpose), person.citizen_id, 401, "api_key_revoked")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_expired_key_is_401(spec, make_client, person):
    client, key = make_client(
        purposes=[spec.purpose], expires_at=timezone.now() + dt.timedelta(days=1)
    )
    ApiKey.objects.filter(client=client).update(
        expiry_date=timezone.now() - dt.timedelta(seconds=1)
    )
    _refused(spec, Caller(key, spec.purpose), person.citizen_id, 401, "api_key_expired")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_disabled_client_is_401(spec, make_client, person):
    from population.sharing.services import api_client_update

    client, key = make_client(purposes=[spec.purpose])
    api_client_update(client=client, actor=None, is_active=False)
    _refused(spec, Caller(key, spec.purpose), person.citizen_id, 401, "client_disabled")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_department_without_this_endpoint_is_403(spec, make_client, person):
    names = endpoint_hook.keys()
    others = [e for e in names if e != spec.endpoint]
    _client, key = make_client(department="edu", endpoints=others, purposes=[spec.purpose])
    _refused(spec, Caller(key, spec.purpose), person.citizen_id, 403, "endpoint_not_allowed")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_missing_purpose_is_400(spec, make_client, person):
    _client, key = make_client(purposes=[spec.purpose])
    _refused(spec, Caller(key, purpose=None), person.citizen_id, 400, "purpose_required")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
@pytest.mark.parametrize("purpose", ["school_enrolment", "no_such_purpose"])
def test_purpose_outside_scope_is_403(spec, purpose, make_client, person):
    _client, key = make_client(purposes=["social_insurance"])
    _refused(spec, Caller(key, purpose=purpose), person.citizen_id, 403, "purpose_not_allowed")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_wrong_method_is_405(spec, make_client, person):
    _client, key = make_client(purposes=[spec.purpose])
    response = call(spec, Caller(key, spec.purpose), person.citizen_id, method=spec.wrong_method)
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_over_the_rate_limit_is_429_with_retry_after(spec, make_client, person):
    _client, key = make_client(purposes=[spec.purpose], rate_limit_per_minute=2)
    caller = Caller(key, spec.purpose)
    ok = spec.ok_status
    assert [call(spec, caller, person.citizen_id).status_code for _ in range(2)] == [ok, ok]
    response, _ = _refused(spec, caller, person.citizen_id, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another client's window is its own.
    _other, other_key = make_client(purposes=[spec.purpose])
    assert call(spec, Caller(other_key, spec.purpose), person.citizen_id).status_code == ok


def test_field_outside_scope_is_403_and_unknown_field_400(make_client, person):
    _client, key = make_client(person_fields=["name", "sex"])
    caller = Caller(key)
    path = f"/api/v1/persons/{person.citizen_id}"
    assert_error(caller.get(path, {"fields": "name,hukou_region"}), 403, "field_not_allowed")
    assert_error(caller.get(path, {"fields": "name,password"}), 400, "unknown_field")
    assert AccessLog.objects.count() == 0
    assert caller.get(path, {"fields": "sex"}).json() == {
        "citizen_id": person.masked_citizen_id,
        "citizen_id_masked": True,
        "sex": 1,
    }


def test_fact_outside_scope_is_403_and_unknown_fact_404(make_client, person):
    _client, key = make_client(facts=["alive"])
    caller = Caller(key)
    base = f"/api/v1/persons/{person.citizen_id}/facts"
    assert_error(caller.get(f"{base}/local_hukou"), 403, "fact_not_allowed")
    assert_error(caller.get(f"{base}/owns_a_yacht"), 404, "fact_unknown")
    assert AccessLog.objects.count() == 0
