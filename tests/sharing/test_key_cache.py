"""Verified API keys are cached per process; a revocation or scope change ends that at once."""

from __future__ import annotations

import pytest

from population.sharing import services
from population.sharing.keycache import verified
from tests.sharing.conftest import Caller, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(make_person, village):
    return make_person(hukou_region=village)


def _key_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "population_apikey" in q["sql"]]


def test_a_verified_key_is_not_looked_up_again(make_client, django_assert_max_num_queries):
    _client, key = make_client()
    caller = Caller(key)
    assert caller.get("/api/v1/changes").status_code == 200

    with django_assert_max_num_queries(50) as captured:
        assert caller.get("/api/v1/changes").status_code == 200

    assert _key_queries(captured) == []


def test_a_wrong_secret_with_a_known_prefix_is_never_served_from_the_cache(make_client):
    _client, key = make_client()
    assert Caller(key).get("/api/v1/changes").status_code == 200
    prefix, _, secret = key.partition(".")
    forged = f"{prefix}.{'x' * len(secret)}"

    assert_error(Caller(forged).get("/api/v1/changes"), 401, "invalid_api_key")


def test_revocation_takes_effect_on_the_next_request(make_client):
    _client, key = make_client()
    assert Caller(key).get("/api/v1/changes").status_code == 200
    assert any(entry[1].prefix == key.split(".")[0] for entry in verified.values())

    services.api_key_revoke(prefix=key.split(".")[0], actor=None)

    assert_error(Caller(key).get("/api/v1/changes"), 401, "api_key_revoked")


def test_a_disabled_client_is_refused_on_the_next_request(make_client):
    client, key = make_client()
    assert Caller(key).get("/api/v1/changes").status_code == 200

    services.api_client_update(client=client, actor=None, is_active=False)

    assert_error(Caller(key).get("/api/v1/changes"), 401, "client_disabled")


def test_a_narrowed_scope_applies_to_the_next_request(make_client, person):
    client, key = make_client()
    assert Caller(key).get(f"/api/v1/persons/{person.citizen_id}").status_code == 200

    services.api_client_update(client=client, actor=None, endpoints=["changes"])

    assert Caller(key).get(f"/api/v1/persons/{person.citizen_id}").status_code == 403
