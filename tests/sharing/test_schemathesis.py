"""Schemathesis: cases generated from /api/schema/ against the app in-process; no answer may be
a server error, and every answer must match the schema's documented statuses and shapes."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from population.sharing.keycache import api_keys_changed
from population.sharing.models import ApiKey
from population.sharing.scopes import Purpose

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# A fixed key, stored hashed by the fixture, since cases are drawn before fixtures run.
KEY = "schemthx.0123456789abcdefghijklmnopqrstuv"


@schemathesis.serializer("application/x-ndjson")
def _raw_file(ctx, value):
    """A pushed feed file (JSON Lines) is sent as the bytes generated for it."""
    return value if isinstance(value, bytes) else str(value).encode()


@schema.auth()
class DepartmentKey:
    """The test's key, set where the schema's ApiKeyAuth scheme says (Schemathesis leaves it out
    on purpose for its missing-credentials cases, which must then get 401)."""

    def get(self, case, ctx):
        return KEY

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Api-Key {data}"}


@pytest.fixture
def api_key(make_client, make_person, village):
    # As Django's test client does: keep the test's connection (and transaction) open across
    # the in-process WSGI calls.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    make_person(hukou_region=village)
    client, _key = make_client(purposes=list(Purpose.values), rate_limit_per_minute=100_000)
    prefix = KEY.split(".")[0]
    hashed = ApiKey.objects.key_generator.hash(KEY)
    ApiKey.objects.create(id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed,
                          name="schemathesis", client=client)  # fmt: skip
    api_keys_changed()  # the same key string in every case, made behind the services' back
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_server_error(case, api_key):
    # Every check but "schema-valid data is accepted": a valid-looking citizen ID that nobody
    # holds is rightly a 404, and a purpose outside the scope a 403.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
