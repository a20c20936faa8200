"""Bad input never crashes the department API: each case once answered 500 or an HTML page.

Every answer below is the one JSON error shape with a stable code, and nothing is recorded.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from population.models import AccessLog
from population.sharing.models import IdempotencyRecord
from population.sync.models import Batch, Fact
from population.sync.services import batch_process
from settlement.rules import rulesets_load_shipped
from tests.sharing.conftest import Caller, assert_error
from tests.sharing.test_authorization_matrix import EMPLOYMENT_V1

pytestmark = pytest.mark.django_db

BATCHES = "/api/v1/feeds/hrss/batches"
PRECHECK = "/api/v1/settlement/precheck"
JM_2019 = {"city_code": "440700", "date": "2019-03-01", "facts": {"employment_months": 7}}


@pytest.fixture
def person(make_person, village):
    return make_person(hukou_region=village)


@pytest.fixture
def hrss(make_client):
    _client, key = make_client()
    return Caller(key)


@pytest.fixture
def housing(make_client, db):
    rulesets_load_shipped()
    _client, key = make_client(department="housing", purposes=["housing_security"])
    return Caller(key, purpose="housing_security")


def raw_post(caller, path, body: bytes, media: str | None = "application/json", **extra):
    kwargs = {} if media is None else {"content_type": media}
    return caller.http.generic("POST", path, body, **kwargs, **caller.headers(**extra))


def employment(person, record_no="R1", newline="\n") -> bytes:
    row = f"{record_no},{person.citizen_id},{person.name},某公司,91440700MA00000000,2024-01-01,"
    return (EMPLOYMENT_V1.rstrip("\n") + newline + row + newline).encode()


# -- Found 1: an empty feed push body ----------------------------------------------------------


@pytest.mark.parametrize("media", [None, "application/json", "text/plain"])
def test_an_empty_feed_push_of_no_feed_type_is_415_not_a_crash(hrss, media):
    response = raw_post(hrss, f"{BATCHES}?filename=employment.csv", b"", media)
    body = assert_error(response, 415, "unsupported_media_type")
    assert "text/csv" in body["message_en"] and "application/x-ndjson" in body["message_en"]
    assert Batch.objects.count() == 0


def test_an_empty_csv_push_is_an_empty_file(hrss):
    assert_error(raw_post(hrss, f"{BATCHES}?filename=employment.csv", b"", "text/csv"), 400,
                 "empty_file")  # fmt: skip


# -- Found 2: NUL in an answer stored for an Idempotency-Key -----------------------------------


def test_a_nul_in_a_parameter_is_refused_and_the_answer_replays(hrss, person):
    path = f"{BATCHES}?filename=t%C2%A0%00"
    first = raw_post(hrss, path, employment(person), "text/csv", HTTP_IDEMPOTENCY_KEY="nul-1")
    body = assert_error(first, 400, "invalid_character")
    assert "filename" in body["errors"]
    again = raw_post(hrss, path, employment(person), "text/csv", HTTP_IDEMPOTENCY_KEY="nul-1")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again.json()["code"] == "invalid_character"
    assert IdempotencyRecord.objects.count() == 1 and Batch.objects.count() == 0


def test_a_nul_in_a_fact_name_is_refused_naming_the_field(housing):
    body = JM_2019 | {"facts": {"a\u0000b": 1}}
    response = housing.post(PRECHECK, body, HTTP_IDEMPOTENCY_KEY="nul-2")
    error = assert_error(response, 400, "invalid_character")
    assert list(error["errors"]) == ["facts.a\\x00b"]
    assert "\x00" not in response.content.decode()
    assert IdempotencyRecord.objects.get().status_code == 400


def test_an_error_echoing_a_control_character_is_stored_printable(housing):
    # A fact name with a tab is refused by the strict parser before the service sees it.
    response = housing.post(PRECHECK, JM_2019 | {"facts": {"x\ty": 1}}, HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 400, "invalid_character")
    stored = IdempotencyRecord.objects.get()
    assert "\t" not in json.dumps(stored.body, ensure_ascii=False)


# -- Found 3: NUL in a batch verification name -------------------------------------------------


@pytest.mark.parametrize("name", ["张\u0000三", "张\u001b三", "张\u007f三"])
def test_a_control_character_in_a_batch_name_is_400_with_the_item_named(hrss, name):
    items = [{"citizen_id": "11010519491231002X", "name": "张三"},
             {"citizen_id": "11010519491231002X", "name": name}]  # fmt: skip
    response = hrss.post("/api/v1/verifications", {"items": items})
    error = assert_error(response, 400, "invalid_character")
    assert list(error["errors"]) == ["items.1.name"]
    assert AccessLog.objects.count() == 0


def test_a_control_character_in_a_single_verification_is_400(hrss):
    response = hrss.post("/api/v1/verifications",
                         {"citizen_id": "11010519491231002X", "name": "张\u0000三"})  # fmt: skip
    assert_error(response, 400, "invalid_character")


# -- Found 4: a CSV with CR-only line ends -----------------------------------------------------


def test_a_csv_with_cr_only_line_ends_is_accepted_and_applied(hrss, person):
    response = raw_post(hrss, f"{BATCHES}?filename=employment.csv",
                        employment(person, newline="\r"), "text/csv")  # fmt: skip
    assert response.status_code == 202, response.content
    batch = batch_process(batch_id=response.json()["id"])
    assert (batch.status, batch.received, batch.applied, batch.rejected) == ("done", 1, 1, 0)
    assert Fact.objects.get().person_id == person.pk


# -- Found 5: deep JSON, non-finite numbers, a body over the limit -----------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_too_deep_is_400_too_deep(housing, depth):
    body = ('{"city_code": "440700", "date": "2019-03-01", "facts": ' + "[" * depth
            + "]" * depth + "}").encode()  # fmt: skip
    assert_error(raw_post(housing, PRECHECK, body), 400, "too_deep")


def test_json_at_the_depth_bound_is_parsed(housing):
    # 32 levels in all (the object is the first) is accepted; the facts are then refused.
    inner = "[" * 30 + "]" * 30
    body = f'{{"city_code": "440700", "date": "2019-03-01", "facts": {{"x": {inner}}}}}'
    assert_error(raw_post(housing, PRECHECK, body.encode()), 400, "bad_facts")


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(housing, number):
    body = f'{{"city_code": "440700", "date": "2019-03-01", "facts": {{"points": {number}}}}}'
    assert_error(raw_post(housing, PRECHECK, body.encode()), 400, "non_finite_number")


def test_a_body_over_the_json_limit_is_413_too_large(housing, settings):
    body = json.dumps(JM_2019 | {"facts": {"x": "a" * (settings.SHARING_MAX_JSON_BYTES)}})
    response = raw_post(housing, PRECHECK, body.encode())
    assert_error(response, 413, "too_large")
    keyed = raw_post(housing, PRECHECK, body.encode(), HTTP_IDEMPOTENCY_KEY="big")
    assert_error(keyed, 413, "too_large")


def test_a_body_of_3_mb_is_a_json_413_not_an_html_400(housing):
    response = raw_post(housing, PRECHECK, b" " * (3 * 1024 * 1024))
    assert response["Content-Type"] == "application/json"
    assert_error(response, 413, "too_large")


@pytest.mark.parametrize(
    ("stdin", "code"),
    [
        ('{"city_code": "440700", "date": "2019-03-01", "facts": {"points": 1e999}}',
         "non_finite_number"),
        ('{"city_code": "440700", "date": "2019-03-01", "facts": {"points": Infinity}}',
         "non_finite_number"),
        ('{"city_code": "440700", "date": "2019-03-01", "facts": ' + "[" * 100_000
         + "]" * 100_000 + "}", "too_deep"),
    ],
)  # fmt: skip
def test_the_precheck_command_refuses_what_the_api_refuses(stdin, code, monkeypatch, db):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("settlement_precheck", stdout=out)
    assert f"[{code}]" in str(exc.value)
    assert "Infinity" not in out.getvalue()


# -- Found 6: a feed over Django's request-body cap, with and without Idempotency-Key ----------


@pytest.mark.parametrize("key", [None, "big-feed"])
def test_a_feed_of_3_7_mb_is_accepted_with_or_without_a_key(hrss, person, key):
    rows = "".join(
        f"R{i},{person.citizen_id},{person.name},某公司,91440700MA00000000,2024-01-01,\n"
        for i in range(52_000)
    )
    content = (EMPLOYMENT_V1 + rows).encode()
    assert len(content) > 3.5 * 1024 * 1024
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = raw_post(hrss, f"{BATCHES}?filename=employment.csv", content, "text/csv", **extra)
    assert response.status_code == 202, response.content[:300]
    assert Batch.objects.get().size_bytes == len(content)


@pytest.mark.parametrize("key", [None, "too-big"])
def test_a_feed_over_the_feed_limit_is_413_with_or_without_a_key(hrss, person, settings, key):
    settings.SHARING_MAX_FEED_BYTES = 1000
    content = employment(person) + b"x" * 1000
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = raw_post(hrss, f"{BATCHES}?filename=employment.csv", content, "text/csv", **extra)
    assert_error(response, 413, "too_large")
    assert Batch.objects.count() == 0


# -- Found 8 (minor) ---------------------------------------------------------------------------


def test_a_file_of_only_a_byte_order_mark_is_an_empty_file(hrss):
    response = raw_post(hrss, f"{BATCHES}?filename=employment.csv", b"\xef\xbb\xbf", "text/csv")
    assert_error(response, 400, "empty_file")


@pytest.mark.parametrize("citizen_id", ["123", "11010519491231002Y", "abc", "1101051949123100%00"])
def test_a_malformed_citizen_id_is_400_invalid_citizen_id(hrss, citizen_id):
    assert_error(hrss.get(f"/api/v1/persons/{citizen_id}"), 400, "invalid_citizen_id")
    assert_error(hrss.get(f"/api/v1/persons/{citizen_id}/facts/alive"), 400,
                 "invalid_citizen_id")  # fmt: skip


@pytest.mark.parametrize("date", ["20160601", "2016-W22-3", "2016-6-1", "２０１６-06-01"])
def test_dates_other_than_yyyy_mm_dd_are_refused(hrss, housing, date):
    item = {"citizen_id": "11010519491231002X", "name": "张三", "birth_date": date}
    response = hrss.post("/api/v1/verifications", item)
    assert assert_error(response, 400, "invalid_input")["errors"]["birth_date"]
    assert_error(housing.post(PRECHECK, JM_2019 | {"date": date}), 400, "bad_request")


def test_an_echo_of_many_unknown_names_is_bounded(housing):
    facts = {f"unknown_{i}": 1 for i in range(130_000)}
    response = raw_post(housing, PRECHECK, json.dumps(JM_2019 | {"facts": facts}).encode())
    # Over the body limit anyway; at the limit, the echo is still a few hundred bytes.
    assert_error(response, 413, "too_large")
    facts = {f"unknown_{i}": 1 for i in range(30_000)}
    response = housing.post(PRECHECK, JM_2019 | {"facts": facts})
    assert_error(response, 400, "bad_facts")
    assert len(response.content) < 2_000


def test_unknown_fields_in_an_answer_are_bounded(hrss):
    fields = ",".join(f"f{i}" for i in range(5000))
    response = hrss.get("/api/v1/persons/11010519491231002X", {"fields": fields[:499]})
    assert_error(response, 400, "unknown_field")
    assert len(response.content) < 1_500


# -- the one shape, also where Django answers before a view ------------------------------------


def test_an_unknown_api_url_is_a_json_404(hrss):
    response = hrss.get("/api/v1/nothing-here")
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_an_unexpected_error_is_a_json_500(hrss, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("population.sharing.selectors.changes_page", boom)
    response = hrss.get("/api/v1/changes")
    assert_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
