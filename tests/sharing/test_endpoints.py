"""What each department endpoint answers, what it hides, and what it logs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from population.models import AccessLog, Region, RegionLevel
from tests.sharing.conftest import Caller, assert_error


@pytest.fixture
def other_village(village):
    county = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    township = Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    return Region.objects.create(
        code="441803100001", name="太和村", level=RegionLevel.VILLAGE, parent=township
    )


# -- persons -------------------------------------------------------------------------------------


def test_person_answer_has_exactly_the_scoped_fields_and_a_masked_id(
    make_client, make_person, village
):
    person = make_person(name="李四", hukou_region=village, born=dt.date(1985, 6, 1))
    _client, key = make_client(person_fields=["name", "birth_date", "hukou_region"])
    response = Caller(key).get(f"/api/v1/persons/{person.citizen_id}")
    assert response.status_code == 200
    assert response.json() == {
        "citizen_id": person.citizen_id[:6] + "********" + person.citizen_id[-4:],
        "citizen_id_masked": True,
        "name": "李四",
        "birth_date": "1985-06-01",
        "hukou_region": {"code": "441802006001", "name": "凤城街道第一社区"},
    }
    log = AccessLog.objects.get()
    assert log.channel == "api.persons"
    assert log.username == "api:client-1"
    assert log.purpose == "social_insurance 社会保险经办"
    assert log.person_ids == [person.pk]
    assert log.fields == ["citizen_id", "name", "birth_date", "hukou_region"]


def test_full_citizen_id_only_when_the_scope_allows(make_client, make_person):
    person = make_person()
    _client, key = make_client(person_fields=["name"], full_citizen_id=True)
    body = Caller(key).get(f"/api/v1/persons/{person.citizen_id}").json()
    assert body == {"citizen_id": person.citizen_id, "citizen_id_masked": False, "name": "张三"}


def test_lowercase_x_and_fullwidth_digits_find_the_person(make_client, make_person):
    person = make_person()
    _client, key = make_client(person_fields=["name"])
    typed = person.citizen_id[:-1].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    typed += person.citizen_id[-1].lower()
    assert Caller(key).get(f"/api/v1/persons/{typed}").status_code == 200


def test_person_outside_the_client_regions_looks_exactly_like_a_nonexistent_one(
    make_client, make_person, village, other_village
):
    inside = make_person(hukou_region=village)
    outside = make_person(hukou_region=other_village)
    _client, key = make_client(region_prefixes=["441802"])
    caller = Caller(key)
    assert caller.get(f"/api/v1/persons/{inside.citizen_id}").status_code == 200
    hidden = caller.get(f"/api/v1/persons/{outside.citizen_id}", HTTP_X_REQUEST_ID="r1")
    missing = caller.get("/api/v1/persons/11010519491231002X", HTTP_X_REQUEST_ID="r1")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content

    def headers(r):
        return {k: v for k, v in r.headers.items() if not k.startswith("X-RateLimit")}

    assert headers(hidden) == headers(missing)
    assert assert_error(hidden, 404, "person_not_found")
    # A number that cannot be anyone's is told apart: it says nothing about any person.
    invalid = caller.get("/api/v1/persons/123", HTTP_X_REQUEST_ID="r1")
    assert assert_error(invalid, 400, "invalid_citizen_id")["errors"] == {
        "citizen_id": ["citizen ID must have 18 characters (15 for a legacy number), got 3"]
    }
    # Only the one answered read is logged.
    assert list(AccessLog.objects.values_list("person_ids", flat=True)) == [[inside.pk]]


def test_person_in_scope_by_residence_region_too(make_client, make_person, village, other_village):
    person = make_person(hukou_region=village, residence_region=other_village)
    _client, key = make_client(region_prefixes=["441803"])
    assert Caller(key).get(f"/api/v1/persons/{person.citizen_id}").status_code == 200


@pytest.mark.db_role("owner")  # to put a refusing trigger on the log (DDL), rolled back after
def test_person_read_is_refused_when_the_access_record_cannot_be_written(make_client, make_person):
    person = make_person(name="王五")
    _client, key = make_client()
    with connection.cursor() as cursor:  # the audit store refuses every new row
        cursor.execute(
            "CREATE FUNCTION audit_store_down() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'audit store down'; END $$;"
            " CREATE TRIGGER audit_store_down BEFORE INSERT ON population_accesslog"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_store_down()"
        )
    caller = Caller(key)
    caller.http.raise_request_exception = False
    response = caller.get(f"/api/v1/persons/{person.citizen_id}")
    assert response.status_code == 500
    assert "王五".encode() not in response.content
    assert person.citizen_id[-4:].encode() not in response.content


def test_person_lookup_is_one_statement_for_the_read_and_its_log_row(
    make_client, make_person, django_assert_num_queries
):
    person = make_person()
    _client, key = make_client()
    caller = Caller(key)
    # First use: the key with its client, then one statement that reads the person (both
    # regions) and inserts the access-log row (no lock, no read of another log row).
    with django_assert_num_queries(2) as captured:
        assert caller.get(f"/api/v1/persons/{person.citizen_id}").status_code == 200
    assert "population_apikey" in captured.captured_queries[0]["sql"]
    statement = captured.captured_queries[1]["sql"]
    assert "INSERT INTO population_accesslog" in statement
    assert "population_person" in statement
    # The key is verified now: a lookup is that one statement and nothing else.
    with django_assert_num_queries(1):
        assert caller.get(f"/api/v1/persons/{person.citizen_id}").status_code == 200
    assert AccessLog.objects.filter(person_ids=[person.pk]).count() == 2


# -- facts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "query", "expected"),
    [
        ("local_hukou", {}, True),
        ("alive", {}, True),
        ("hukou_in_region", {"region": "441802"}, True),
        ("hukou_in_region", {"region": "441802000000"}, True),
        ("hukou_in_region", {"region": "441803"}, False),
        ("lives_in_region", {"region": "441803100001"}, True),
        ("lives_in_region", {"region": "441802"}, False),
    ],
)
def test_facts_answer_yes_or_no_only(
    fact, query, expected, make_client, make_person, village, other_village
):
    person = make_person(hukou_region=village, residence_region=other_village)
    _client, key = make_client()
    response = Caller(key).get(f"/api/v1/persons/{person.citizen_id}/facts/{fact}", query)
    assert response.status_code == 200
    assert response.json() == {"fact": fact, "value": expected}
    assert AccessLog.objects.get().fields == [f"fact:{fact}"]


def test_non_local_person_has_no_local_hukou(make_client, make_person):
    person = make_person(hukou_region=None)
    _client, key = make_client()
    response = Caller(key).get(f"/api/v1/persons/{person.citizen_id}/facts/local_hukou")
    assert response.json() == {"fact": "local_hukou", "value": False}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "parameter_required"),
        ({"region": "44x"}, "invalid_region"),
        ({"region": "4"}, "invalid_region"),
    ],
)
def test_fact_parameters_are_validated(query, code, make_client, make_person, village):
    person = make_person(hukou_region=village)
    _client, key = make_client()
    response = Caller(key).get(f"/api/v1/persons/{person.citizen_id}/facts/lives_in_region", query)
    assert_error(response, 400, code)
    assert AccessLog.objects.count() == 0


def test_fact_about_unknown_person_is_the_same_404(make_client):
    _client, key = make_client()
    response = Caller(key).get("/api/v1/persons/11010519491231002X/facts/local_hukou")
    assert_error(response, 404, "person_not_found")


# -- verifications -------------------------------------------------------------------------------


def test_single_verification_says_match_or_not_and_nothing_else(make_client, make_person):
    person = make_person(name="王五", born=dt.date(1970, 3, 4))
    _client, key = make_client()
    caller = Caller(key)
    cases = [
        ({"citizen_id": person.citizen_id, "name": "王五"}, True),
        ({"citizen_id": person.citizen_id, "name": " 王五 "}, True),
        (
            {"citizen_id": person.citizen_id.lower(), "name": "王五", "birth_date": "1970-03-04"},
            True,
        ),
        ({"citizen_id": person.citizen_id, "name": "王六"}, False),
        ({"citizen_id": person.citizen_id, "name": "王五", "birth_date": "1970-03-05"}, False),
        ({"citizen_id": "11010519491231002X", "name": "王五"}, False),
        ({"citizen_id": "not-an-id", "name": "王五"}, False),
    ]
    for body, expected in cases:
        response = caller.post("/api/v1/verifications", body)
        assert response.status_code == 200, response.content
        assert response.json() == {"match": expected}, body


def test_deceased_person_does_not_match(make_client, make_person):
    from population.models import Person, PersonStatus

    person = make_person(name="赵六")
    Person.objects.filter(pk=person.pk).update(status=PersonStatus.DECEASED)
    _client, key = make_client()
    body = {"citizen_id": person.citizen_id, "name": "赵六"}
    assert Caller(key).post("/api/v1/verifications", body).json() == {"match": False}


def test_batch_of_1000_is_answered_in_order_in_one_query(
    make_client, make_person, django_assert_num_queries
):
    people = [make_person(name=f"人{i}") for i in range(5)]
    _client, key = make_client()
    items = []
    for i in range(1000):
        p = people[i % 5]
        items.append({"citizen_id": p.citizen_id, "name": p.name if i % 3 else "别人"})
    expected = [bool(i % 3) for i in range(1000)]
    # key with client; ONE statement that matches the batch and inserts its access-log row
    # (its own transaction: no savepoint around it without an Idempotency-Key).
    with django_assert_num_queries(2) as captured:
        response = Caller(key).post("/api/v1/verifications", {"items": items})
    statement = captured.captured_queries[1]["sql"]
    assert "INSERT INTO population_accesslog" in statement and "unnest" in statement
    assert response.status_code == 200
    assert response.json() == {"matches": expected}
    assert AccessLog.objects.get().person_ids == sorted(p.pk for p in people)


def test_verification_outside_client_regions_is_no_match(
    make_client, make_person, village, other_village
):
    person = make_person(name="钱七", hukou_region=other_village)
    _client, key = make_client(region_prefixes=["441802"])
    body = {"items": [{"citizen_id": person.citizen_id, "name": "钱七"}]}
    assert Caller(key).post("/api/v1/verifications", body).json() == {"matches": [False]}
    assert AccessLog.objects.get().person_ids == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"citizen_id": "11010519491231002X"},
        {"name": "张三"},
        {"items": []},
        {"items": [{"citizen_id": "11010519491231002X"}]},
        {
            "citizen_id": "11010519491231002X",
            "name": "张三",
            "items": [{"citizen_id": "1", "name": "x"}],
        },
        {"citizen_id": "11010519491231002X", "name": "张三", "birth_date": "1949-13-01"},
        {"items": [{"citizen_id": "11010519491231002X", "name": "张三"}] * 1001},
        {
            "items": [
                {"citizen_id": "11010519491231002X", "name": "张三", "birth_date": "2000-W01-1"}
            ]
        },
        {"items": [{"citizen_id": "11010519491231002X", "name": "张三", "birth_date": 19491231}]},
        {"items": [{"citizen_id": "11010519491231002X", "name": "   "}]},
        {"items": [{"citizen_id": "1" * 33, "name": "张三"}]},
        {"items": ["11010519491231002X"]},
        {"items": "11010519491231002X"},
        ["not", "an", "object"],
    ],
)
def test_bad_verification_input_is_400_with_field_errors_and_no_log(body, make_client):
    _client, key = make_client()
    response = Caller(key).post("/api/v1/verifications", body)
    error = assert_error(response, 400, "invalid_input")
    assert error["errors"]
    assert AccessLog.objects.count() == 0


def test_malformed_json_is_400(make_client):
    _client, key = make_client()
    caller = Caller(key)
    response = caller.http.post(
        "/api/v1/verifications", b"{nope", content_type="application/json", **caller.headers()
    )
    assert_error(response, 400, "parse_error")
    response = caller.http.post(
        "/api/v1/verifications", b"a=b", content_type="application/x-www-form-urlencoded",
        **caller.headers(),
    )  # fmt: skip
    assert_error(response, 415, "unsupported_media_type")


def test_rows_of_the_one_statement_paths_are_queued_sealed_and_verify(
    make_client, make_person, settings, tmp_path
):
    from population.audit import access_log_seal, access_log_verify
    from population.models import AccessLogPending, AccessLogSeal

    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    person = make_person(name="赵六")
    _client, key = make_client()
    caller = Caller(key)
    assert caller.get(f"/api/v1/persons/{person.citizen_id}").status_code == 200
    body = {"items": [{"citizen_id": person.citizen_id, "name": "赵六"}]}
    assert caller.post("/api/v1/verifications", body).json() == {"matches": [True]}
    assert caller.get("/api/v1/persons/11010519491231002X").status_code == 404  # not logged
    rows = list(AccessLog.objects.order_by("id"))
    assert [(r.channel, r.person_ids) for r in rows] == [
        ("api.persons", [person.pk]),
        ("api.verifications", [person.pk]),
    ]
    assert sorted(AccessLogPending.objects.values_list("log_id", flat=True)) == [r.id for r in rows]

    assert access_log_seal().rows == 2

    assert not AccessLogPending.objects.exists()
    assert sorted(AccessLogSeal.objects.values_list("log_id", flat=True)) == [r.id for r in rows]
    assert access_log_verify().intact
