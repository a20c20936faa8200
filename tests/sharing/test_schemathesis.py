"""Schemathesis: cases generated from /api/schema/ against the app in-process, in every phase
(examples, coverage, fuzzing; positive and negative data) with every check: no answer may be a
server error, every answer must match the schema's documented statuses and shapes, data the
schema allows must not be refused as invalid and data it forbids must be refused.

``make test`` runs a bounded number of cases per operation; ``make fuzz`` sets
``POPBASE_FUZZ_EXAMPLES`` for the long run and ``POPBASE_FUZZ_REPORT`` to count the cases.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from population.identity import build_citizen_id
from population.sharing.keycache import api_keys_changed
from population.sharing.models import ApiKey
from population.sharing.scopes import Purpose

# Schema-valid citizen IDs are well-formed numbers (a check digit is beyond a JSON pattern).
schemathesis.openapi.format(
    "citizen-id",
    st.builds(
        build_citizen_id,
        st.sampled_from(["441802", "441803", "110105"]),
        st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2020, 12, 31)),
        st.integers(min_value=0, max_value=999),
    ),
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# What JSON Schema cannot state, so schema-valid data may rightly be refused: a pushed file's
# content (its header, encoding; the feed's own checks, tested in tests/population) and a fact
# whose region parameter only some facts require.
NOT_DESCRIBABLE = {
    "POST /api/v1/feeds/{department}/batches",
    "GET /api/v1/persons/{citizen_id}/facts/{fact}",
}
PRECHECK = "POST /api/v1/settlement/precheck"
SHIPPED_CHANNELS = {
    channel["code"]
    for path in (Path(__file__).resolve().parents[2] / "settlement" / "data").glob("*/*.json")
    for channel in (json.loads(path.read_text(encoding="utf-8")) or {}).get("channels", [])
    if isinstance(channel, dict) and "code" in channel
}
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


EXAMPLES = int(os.environ.get("POPBASE_FUZZ_EXAMPLES", "30"))
_COUNTS: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _case_report():
    """With ``POPBASE_FUZZ_REPORT`` set, write the cases run per operation and status class."""
    yield
    target = os.environ.get("POPBASE_FUZZ_REPORT")
    if target:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(f"{target}.{worker}.json", "w", encoding="utf-8") as out:
            json.dump({" ".join(k): v for k, v in _COUNTS.items()}, out)


def _refused_by_the_city_s_rule_set(response) -> bool:
    """A pre-check refused for what only the city's rule set decides, which OpenAPI cannot
    state: a zone missing from that city's zone table, or a category that contradicts the
    observation it derives from (both tested in tests/settlement)."""
    if response.status_code != 400:
        return False
    body = response.json()
    message = body.get("message_en", "")
    return body.get("code") == "bad_facts" and (
        "not a zone of this rule set" in message or "contradicts" in message
    )


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_server_error(case, api_key):
    # Every check, "schema-valid data is accepted" included (but for NOT_DESCRIBABLE): 404 (a
    # valid citizen ID nobody holds) and 403 (a purpose outside the scope) count as accepted.
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None and re.fullmatch(r"[\x21-\x7e]{1,255}", key):
        # Each generated case is a request of its own: a key shared by two different cases
        # would rightly be 422 idempotency_key_reused (tested in test_contract.py).
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    # A channel code is only meaningful within its city's rule set (422 unknown_channel
    # otherwise, tested in test_settlement_precheck_api.py): a generated, well-formed code that
    # no rule set has is dropped; a malformed one stays, to be refused as schema-violating.
    channel = case.body.get("channel") if isinstance(case.body, dict) else None
    if (
        case.operation.label == PRECHECK
        and isinstance(channel, str)
        and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", channel)
        and channel not in SHIPPED_CHANNELS
    ):
        del case.body["channel"]
    excluded = [positive_data_acceptance] if case.operation.label in NOT_DESCRIBABLE else []
    response = case.call()
    if case.operation.label == PRECHECK and _refused_by_the_city_s_rule_set(response):
        excluded = [positive_data_acceptance]
    case.validate_response(response, excluded_checks=excluded)
    _COUNTS[(case.operation.label, f"{response.status_code // 100}xx")] += 1
