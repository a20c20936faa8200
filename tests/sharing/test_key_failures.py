"""Failed API-key attempts are limited per client address (atomic in Redis): after
``API_KEY_FAILURE_LIMIT`` failures in a window, even a valid key from that address waits; other
addresses and valid keys do not count against it."""

from __future__ import annotations

import threading

import pytest

from population.sharing.ratelimit import key_attempt_release, key_attempt_reserve
from tests.sharing.conftest import Caller, assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/v1/changes"


class From(Caller):
    """A caller at a given client address."""

    def __init__(self, key, address):
        super().__init__(key)
        self.http.defaults["REMOTE_ADDR"] = address


def test_after_the_limit_of_failures_an_address_waits_even_with_a_valid_key(make_client, settings):
    settings.API_KEY_FAILURE_LIMIT = 3
    _client, key = make_client()
    prefix = key.partition(".")[0]
    guesser = From(f"{prefix}.{'x' * 32}", "203.0.113.7")
    for _ in range(3):
        assert_error(guesser.get(PATH), 401, "invalid_api_key")
    for bad in (f"{prefix}.{'y' * 32}", "nosuchkey.zzzz"):
        body = assert_error(From(bad, "203.0.113.7").get(PATH), 429, "too_many_key_failures")
        assert body["message_zh"] == "此地址接口密钥错误次数过多，请稍后再试"
    refused = From(key, "203.0.113.7").get(PATH)
    assert_error(refused, 429, "too_many_key_failures")
    assert 1 <= int(refused["Retry-After"]) <= settings.API_KEY_FAILURE_WINDOW_SECONDS
    # Another address is not affected; valid keys never count as failures.
    for _ in range(5):
        assert From(key, "198.51.100.2").get(PATH).status_code == 200


def test_valid_keys_do_not_use_up_the_failures(make_client, settings):
    settings.API_KEY_FAILURE_LIMIT = 2
    _client, key = make_client()
    for _ in range(10):
        assert From(key, "203.0.113.8").get(PATH).status_code == 200
    assert_error(From("abcdefgh.wrong", "203.0.113.8").get(PATH), 401, "invalid_api_key")
    assert From(key, "203.0.113.8").get(PATH).status_code == 200


def test_no_key_at_all_is_not_a_guess(make_client, settings):
    settings.API_KEY_FAILURE_LIMIT = 1
    for _ in range(3):
        assert_error(From(None, "203.0.113.9").get(PATH), 401, "not_authenticated")


def test_simultaneous_guesses_never_pass_the_limit(settings):
    """Forty threads reserve at once against real Redis: exactly the limit get through."""
    settings.API_KEY_FAILURE_LIMIT = 7
    assert settings.REDIS_URL
    results = []
    barrier = threading.Barrier(40)

    def guess():
        barrier.wait()
        results.append(key_attempt_reserve(address="192.0.2.50", now=1_000_000.0)[0])

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [r for r in results if r is not None]
    assert len(granted) == 7
    key_attempt_release(granted[0])  # a valid key gives its attempt back
    assert key_attempt_reserve(address="192.0.2.50", now=1_000_000.0)[0] is not None
    assert key_attempt_reserve(address="192.0.2.50", now=1_000_000.0)[0] is None
