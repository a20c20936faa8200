"""POST /api/v1/settlement/precheck: the settlement pre-check over the department API."""

from __future__ import annotations

import pytest

from population.models import AccessLog
from settlement.rules import rulesets_load_shipped
from settlement.services import settlement_precheck
from tests.sharing.conftest import Caller, assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/v1/settlement/precheck"
JM_2019 = {
    "city_code": "440700",
    "date": "2019-03-01",
    "facts_version": 2,
    "facts": {
        "residence_region_code": "440703",  # 蓬江区
        "employment_region_code": "440704001",
        "employment_months": 7,
        "properties": [],
        "rents_home": True,
        "rental_registered": False,  # 江门 accepts a lawful rental without 备案
        "insurance": [
            {"kind": "pension", "type": "urban_employee", "region_code": "440703", "months": 6}
        ],
    },
}


@pytest.fixture(autouse=True)
def _shipped_rules(db):
    rulesets_load_shipped()  # a flushed reused database has lost the migration's rows


@pytest.fixture
def caller(make_client):
    _client, key = make_client(department="housing", purposes=["housing_security"])
    return Caller(key, purpose="housing_security")


def test_the_answer_is_the_pre_check_of_the_given_facts(caller):
    response = caller.post(PATH, JM_2019)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == settlement_precheck(JM_2019)
    assert body["date"] == "2019-03-01"
    assert body["rule_set"]["city_code"] == "440700"
    assert "stable_job_core" in body["qualifies"]
    job = next(c for c in body["channels"] if c["code"] == "stable_job_core")
    assert (job["status"], job["unmet"], job["missing"]) == ("met", [], [])
    assert AccessLog.objects.count() == 0  # facts given, no person read


def test_a_fact_short_of_the_rule_is_reported_unmet(caller):
    five = [{"kind": "pension", "type": "urban_employee", "region_code": "440703", "months": 5}]
    facts = JM_2019["facts"] | {"insurance": five}
    body = caller.post(PATH, JM_2019 | {"facts": facts}).json()
    job = next(c for c in body["channels"] if c["code"] == "stable_job_core")
    assert (job["status"], job["unmet"]) == ("unmet", ["参加社会保险满半年"])
    assert "stable_job_core" not in body["qualifies"]


@pytest.mark.parametrize(
    ("payload", "code", "new_field"),
    [
        (JM_2019 | {"facts": {"residence_zone": "core_district"}}, "bad_facts",
         "residence_region_code"),
        (JM_2019 | {"facts": {"residence_kind": "rented"}}, "bad_facts", "rental_registered"),
        (JM_2019 | {"facts": {"social_insurance_months": 6}}, "bad_facts", "insurance"),
        (JM_2019 | {"facts_version": 1}, "bad_facts_version", "properties"),
    ],
)  # fmt: skip
def test_a_request_of_the_old_shape_is_refused_naming_the_new_field(
    caller, payload, code, new_field
):
    body = assert_error(caller.post(PATH, payload), 400, code)
    assert new_field in body["message_zh"] and new_field in body["message_en"]


def test_one_channel_may_be_asked_alone(caller):
    body = caller.post(PATH, {"city_code": "440700", "date": "2019-03-01",
                              "channel": "stable_job_core"}).json()  # fmt: skip
    assert [c["code"] for c in body["channels"]] == ["stable_job_core"]
    assert body["channels"][0]["ask"] == [
        "residence_region_code",
        "employment_region_code",
        "employment_months",
        "properties",
        "rents_home",
        "insurance",
    ]


def test_a_repeated_idempotency_key_replays_the_answer(caller):
    first = caller.post(PATH, JM_2019, HTTP_IDEMPOTENCY_KEY="pc-1")
    again = caller.post(PATH, JM_2019, HTTP_IDEMPOTENCY_KEY="pc-1")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = caller.post(PATH, JM_2019 | {"date": "2019-03-02"}, HTTP_IDEMPOTENCY_KEY="pc-1")
    assert_error(other, 422, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([1, 2], 400, "bad_request"),
        ({}, 400, "bad_request"),
        (JM_2019 | {"citizen_id": "x"}, 400, "bad_request"),
        (JM_2019 | {"city_code": "4407"}, 400, "bad_request"),
        (JM_2019 | {"city_code": 440700}, 400, "bad_request"),
        (JM_2019 | {"date": "2019-02-30"}, 400, "bad_request"),
        (JM_2019 | {"date": None}, 400, "bad_request"),
        (JM_2019 | {"facts": []}, 400, "bad_facts"),
        (JM_2019 | {"facts": {"yacht_length_m": 30}}, 400, "bad_facts"),
        (JM_2019 | {"facts": {"employment_months": "seven"}}, 400, "bad_facts"),
        (JM_2019 | {"date": "2018-09-30"}, 404, "no_rules"),
        (JM_2019 | {"city_code": "110000"}, 404, "no_rules"),
    ],
)
def test_bad_requests_get_the_bilingual_error(caller, body, status, code):
    assert_error(caller.post(PATH, body), status, code)


def test_a_body_that_is_not_json_is_refused(caller):
    response = caller.http.post(PATH, "city_code=440700", content_type="text/plain",
                                **caller.headers())  # fmt: skip
    assert_error(response, 415, "unsupported_media_type")
    response = caller.http.post(PATH, "{not json", content_type="application/json",
                                **caller.headers())  # fmt: skip
    assert_error(response, 400, "parse_error")
