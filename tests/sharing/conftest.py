"""Fixtures for the department API: clients with keys, and a caller that sends them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from population.sharing.scopes import PersonField, change_kind_hook, endpoint_hook


@pytest.fixture
def make_client(db):
    """A department client (full scope unless told otherwise) and its key."""
    from population.sharing.services import api_client_create

    counter = iter(range(1, 1000))

    def _make(**scope):
        n = next(counter)
        values = {
            "code": f"client-{n}",
            "name": f"测试客户端{n}",
            "department": "hrss",
            "endpoints": endpoint_hook.keys(),
            "person_fields": list(PersonField.values),
            "purposes": ["social_insurance"],
            "change_kinds": change_kind_hook.keys(),
            "facts": ["local_hukou", "lives_in_region", "hukou_in_region", "alive"],
        }
        values.update(scope)
        return api_client_create(actor=None, **values)

    return _make


class Caller:
    """Calls the API as a department would: key, purpose and JSON."""

    def __init__(self, key: str | None, purpose: str | None = "social_insurance"):
        self.http = APIClient()
        self.key = key
        self.purpose = purpose

    def headers(self, **extra) -> dict:
        headers = {}
        if self.key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Api-Key {self.key}"
        if self.purpose is not None:
            headers["HTTP_X_PURPOSE"] = self.purpose
        headers.update(extra)
        return headers

    def get(self, path: str, params=None, **extra):
        return self.http.get(path, params or {}, **self.headers(**extra))

    def post(self, path: str, body=None, **extra):
        return self.http.post(path, body, format="json", **self.headers(**extra))

    def request(self, method: str, path: str, body=None, **extra):
        fn = getattr(self.http, method.lower())
        if method in {"GET", "DELETE", "HEAD", "OPTIONS"}:
            return fn(path, **self.headers(**extra))
        return fn(path, body, format="json", **self.headers(**extra))


@pytest.fixture
def caller():
    return Caller


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape: code, both messages, and the request id echoed in the header."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert body["message_zh"] and body["message_en"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


@pytest.fixture(autouse=True)
def _fresh_rate_windows(settings):
    """Each test starts with empty rate-limit windows for this test database."""
    import redis
    from django.db import connection

    r = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(r.scan_iter(f"popbase:{connection.settings_dict['NAME']}:rate:*"))
    if keys:
        r.delete(*keys)
