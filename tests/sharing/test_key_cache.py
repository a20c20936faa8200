"""Verified API keys are cached per process; a revocation or scope change ends that at once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from population.sharing import services
from population.sharing.keycache import verified
from tests.dburl import subprocess_database_url
from tests.sharing.conftest import Caller, assert_error

ROOT = Path(__file__).resolve().parents[2]

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


# -- a verified key: one Redis round trip, no SQL, and every change still seen at once ---------


class _RedisCalls:
    """Counts the commands this process sends to Redis (each one is a round trip)."""

    def __init__(self, monkeypatch):
        import redis

        self.commands: list[str] = []
        original = redis.Redis.execute_command

        def counted(client, *args, **options):
            self.commands.append(str(args[0]))
            return original(client, *args, **options)

        monkeypatch.setattr(redis.Redis, "execute_command", counted)


def test_a_verified_key_costs_one_redis_round_trip_and_no_sql(
    make_client, person, monkeypatch, django_assert_num_queries
):
    _client, key = make_client()
    caller = Caller(key)
    first = caller.get(f"/api/v1/persons/{person.citizen_id}")
    assert first.status_code == 200
    calls = _RedisCalls(monkeypatch)

    with django_assert_num_queries(1) as captured:  # the person and its log row, nothing else
        second = caller.get(f"/api/v1/persons/{person.citizen_id}")

    assert second.status_code == 200
    assert len(calls.commands) == 1, calls.commands  # version, failures and rate limit at once
    assert _key_queries(captured) == []
    # The request was counted in the window like the first.
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1


def test_an_address_past_its_failures_is_refused_even_with_a_verified_key(make_client, settings):
    settings.API_KEY_FAILURE_LIMIT = 2
    _client, key = make_client()
    trusted = Caller(key)
    trusted.http.defaults["REMOTE_ADDR"] = "203.0.113.40"
    assert trusted.get("/api/v1/changes").status_code == 200  # verified and cached
    guesser = Caller(f"{key.partition('.')[0]}.{'x' * 32}")
    guesser.http.defaults["REMOTE_ADDR"] = "203.0.113.40"
    for _ in range(2):
        assert_error(guesser.get("/api/v1/changes"), 401, "invalid_api_key")

    assert_error(trusted.get("/api/v1/changes"), 429, "too_many_key_failures")


def test_a_cached_key_is_refused_once_it_expires(make_client):
    _client, key = make_client(expires_at=timezone.now() + dt.timedelta(seconds=1.5))
    caller = Caller(key)
    assert caller.get("/api/v1/changes").status_code == 200
    assert any(entry[1].prefix == key.split(".")[0] for entry in verified.values())

    time.sleep(1.6)  # nothing changes but the clock: no version moves

    assert_error(caller.get("/api/v1/changes"), 401, "api_key_expired")


def test_the_rate_limit_still_refuses_a_verified_key(make_client):
    _client, key = make_client(rate_limit_per_minute=3)
    caller = Caller(key)
    for _ in range(3):
        assert caller.get("/api/v1/changes").status_code == 200
    refused = caller.get("/api/v1/changes")
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60


# -- a change made by another process -----------------------------------------------------------

_OTHER_PROCESS = """
import datetime, sys, django
django.setup()
from population.sharing import services
from population.sharing.models import ApiClient
action, arg = sys.argv[1], sys.argv[2]
if action == "revoke":
    services.api_key_revoke(prefix=arg, actor=None)
elif action == "rotate":
    _key, secret = services.api_key_rotate(
        client=ApiClient.objects.get(code=arg), actor=None, grace=datetime.timedelta(0)
    )
    print(secret)
elif action == "disable":
    services.api_client_update(client=ApiClient.objects.get(code=arg), actor=None, is_active=False)
"""


def _in_another_process(action: str, arg: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _OTHER_PROCESS, action, arg],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_in_another_process_is_refused_on_the_next_request_here(make_client):
    _client, key = make_client()
    caller = Caller(key)
    assert caller.get("/api/v1/changes").status_code == 200
    prefix = key.split(".")[0]
    assert any(entry[1].prefix == prefix for entry in verified.values())

    _in_another_process("revoke", prefix)

    # This process still holds the key as verified; the version read with the rate limit ends it.
    assert any(entry[1].prefix == prefix for entry in verified.values())
    assert_error(caller.get("/api/v1/changes"), 401, "api_key_revoked")


@pytest.mark.django_db(transaction=True)
def test_a_key_rotated_in_another_process_the_old_refused_the_new_one_works(make_client):
    client, old_key = make_client()
    assert Caller(old_key).get("/api/v1/changes").status_code == 200

    new_key = _in_another_process("rotate", client.code)

    assert_error(Caller(old_key).get("/api/v1/changes"), 401, "api_key_revoked")
    assert Caller(new_key).get("/api/v1/changes").status_code == 200
    assert Caller(new_key).get("/api/v1/changes").status_code == 200  # now from the cache


@pytest.mark.django_db(transaction=True)
def test_a_client_disabled_in_another_process_is_refused_on_the_next_request_here(make_client):
    client, key = make_client()
    caller = Caller(key)
    assert caller.get("/api/v1/changes").status_code == 200

    _in_another_process("disable", client.code)

    assert_error(caller.get("/api/v1/changes"), 401, "client_disabled")
