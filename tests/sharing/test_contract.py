"""The contract every endpoint shares: schema and docs, idempotent writes, atomic rate limit."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import close_old_connections, connection

from population.models import AccessLog
from population.sharing.models import IdempotencyRecord
from population.sharing.ratelimit import rate_limit_hit
from tests.sharing.conftest import Caller, assert_error


def run_at_once(n, work):
    barrier = threading.Barrier(n)
    results = [None] * n

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # inspected by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    close_old_connections()
    return results


# -- schema and docs -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_schema_declares_the_key_scheme_and_every_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"] == {
        "ApiKeyAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`：部门接口密钥 / a department key",
        }
    }
    assert set(schema["paths"]) == {
        "/api/v1/persons/{citizen_id}",
        "/api/v1/persons/{citizen_id}/facts/{fact}",
        "/api/v1/persons/{citizen_id}/reads",
        "/api/v1/verifications",
        "/api/v1/changes",
        "/api/v1/feeds/{department}/batches",
        "/api/v1/feeds/{department}/batches/{batch_id}",
        "/api/v1/statistics/urbanization",
        "/api/v1/settlement/precheck",
    }
    push = schema["paths"]["/api/v1/feeds/{department}/batches"]["post"]
    assert set(push["requestBody"]["content"]) == {"text/csv", "application/x-ndjson"}
    assert set(push["responses"]) >= {"202", "400", "401", "403", "422", "429"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)
            headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert "X-Purpose" in headers
            assert ("Idempotency-Key" in headers) == (method == "post")
            assert {"401", "403", "429"} <= set(operation["responses"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_are_served_from_the_project_not_a_cdn(client, path):
    html = client.get(path).content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


def test_session_login_does_not_open_the_api(admin_client, make_person):
    person = make_person()
    response = admin_client.get(f"/api/v1/persons/{person.citizen_id}", HTTP_X_PURPOSE="x")
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("given", ["", "bad id with spaces", "x" * 65])
def test_malformed_request_id_is_replaced(given, make_client):
    _client, key = make_client()
    response = Caller(key).get("/api/v1/changes", HTTP_X_REQUEST_ID=given)
    assert response.status_code == 200
    assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"] != given


# -- idempotency ---------------------------------------------------------------------------------


def _verify(caller, person, key="k-1", name="张三"):
    return caller.post(
        "/api/v1/verifications",
        {"citizen_id": person.citizen_id, "name": name},
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_repeated_idempotency_key_replays_the_first_answer_without_a_second_effect(
    make_client, make_person
):
    person = make_person()
    _client, key = make_client()
    caller = Caller(key)
    first = _verify(caller, person)
    again = _verify(caller, person)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() == {"match": True}
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert AccessLog.objects.count() == 1  # the replay read nothing
    # Without a key every call is its own.
    caller.post("/api/v1/verifications", {"citizen_id": person.citizen_id, "name": "张三"})
    assert AccessLog.objects.count() == 2


def test_same_key_with_another_body_is_422_and_does_nothing(make_client, make_person):
    person = make_person()
    _client, key = make_client()
    caller = Caller(key)
    _verify(caller, person)
    assert_error(_verify(caller, person, name="李四"), 422, "idempotency_key_reused")
    assert AccessLog.objects.count() == 1


def test_same_key_under_another_purpose_is_422_and_reads_nothing(make_client, make_person):
    """A replay must not hand a first read's answer to a second purpose unlogged."""
    person = make_person()
    _client, key = make_client(purposes=["social_insurance", "employment_service"])
    _verify(Caller(key, purpose="social_insurance"), person)
    again = _verify(Caller(key, purpose="employment_service"), person)
    assert_error(again, 422, "idempotency_key_reused")
    assert "Idempotent-Replayed" not in again
    purposes = list(AccessLog.objects.values_list("purpose", flat=True))
    assert purposes == ["social_insurance 社会保险经办"]
    # The same purpose still replays.
    assert _verify(Caller(key, purpose="social_insurance"), person)["Idempotent-Replayed"] == "true"


def test_idempotency_keys_are_per_client(make_client, make_person):
    person = make_person()
    _a, key_a = make_client()
    _b, key_b = make_client()
    _verify(Caller(key_a), person)
    response = _verify(Caller(key_b), person)
    assert "Idempotent-Replayed" not in response
    assert AccessLog.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 2


def test_a_refused_write_is_stored_and_replayed_too(make_client):
    _client, key = make_client()
    caller = Caller(key)
    first = caller.post("/api/v1/verifications", {"name": "x"}, HTTP_IDEMPOTENCY_KEY="bad-1")
    again = caller.post("/api/v1/verifications", {"name": "x"}, HTTP_IDEMPOTENCY_KEY="bad-1")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("bad", ["", "with space", "x" * 256, "中文"])
def test_malformed_idempotency_key_is_400(bad, make_client, make_person):
    person = make_person()
    _client, key = make_client()
    response = Caller(key).post(
        "/api/v1/verifications",
        {"citizen_id": person.citizen_id, "name": "张三"},
        HTTP_IDEMPOTENCY_KEY=bad.encode().decode("latin-1"),
    )
    assert_error(response, 400, "invalid_idempotency_key")
    assert AccessLog.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_identical_requests_at_once_have_one_effect(make_client, make_person):
    person = make_person()
    _client, key = make_client()

    results = run_at_once(6, lambda i: _verify(Caller(key), person, key="same"))

    assert [r.status_code for r in results] == [200] * 6
    assert all(r.json() == {"match": True} for r in results)
    assert sum(r.has_header("Idempotent-Replayed") for r in results) == 5
    assert AccessLog.objects.filter(channel="api.verifications").count() == 1
    assert IdempotencyRecord.objects.count() == 1


# -- rate limit ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rate_limit_counter_holds_under_concurrency_on_real_redis():
    # 40 threads hit a limit of 25 in one window at the same instant: exactly 25 pass.
    now = 1_800_000_000.0
    results = run_at_once(40, lambda i: rate_limit_hit(client_id=987654, limit=25, now=now))
    allowed = [r for r in results if r[0]]
    assert len(allowed) == 25
    assert sorted(r[1] for r in allowed) == list(range(25))
    assert all(1 <= r[2] <= 60 for r in results)
    # The next window starts again from zero.
    assert rate_limit_hit(client_id=987654, limit=25, now=now + 60)[:2] == (True, 24)


@pytest.mark.django_db
@pytest.mark.parametrize("redis_on", [True, False], ids=["redis", "in-process"])
def test_the_rate_limit_window_slides_across_a_minute_boundary(redis_on, settings):
    """Three requests at 59.5 s and three at 60.5 s are six within one second: a limit of 3
    per minute admits the first three only (fixed per-minute counters admitted all six)."""
    if not redis_on:
        settings.REDIS_URL = ""
    client_id = 987655 if redis_on else 987656
    start = 1_800_000_000.0 - 0.5  # half a second before a minute boundary
    first = [rate_limit_hit(client_id=client_id, limit=3, now=start) for _ in range(3)]
    after = [rate_limit_hit(client_id=client_id, limit=3, now=start + 1) for _ in range(3)]
    assert [r[0] for r in first + after] == [True] * 3 + [False] * 3
    # Refused requests say when the oldest admitted one leaves the window (59 s from then).
    assert {r[2] for r in after} == {59}
    # 60 s after the first burst the window is empty again.
    assert rate_limit_hit(client_id=client_id, limit=3, now=start + 60)[:2] == (True, 2)


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_for_simultaneous_api_calls(make_client):
    _client, key = make_client(rate_limit_per_minute=5)
    # The window is the calendar minute: start well inside one, so all 12 land in it.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    results = run_at_once(12, lambda i: Caller(key).get("/api/v1/changes"))
    codes = sorted(r.status_code for r in results)
    assert codes == [200] * 5 + [429] * 7
