"""POST /api/v1/feeds/{department}/batches and GET …/batches/{id}: a department pushes a file,
the sync pipeline processes it, the department polls the progress."""

from __future__ import annotations

import json

import pytest

from population.models import AccessLog
from population.sync.models import Batch, Fact
from population.sync.services import batch_process
from tests.sharing.conftest import Caller, assert_error
from tests.sharing.test_authorization_matrix import EMPLOYMENT_V1

pytestmark = pytest.mark.django_db

BATCHES = "/api/v1/feeds/hrss/batches"


@pytest.fixture
def person(make_person, village):
    return make_person(hukou_region=village)


def employment(person, record_no="R1") -> bytes:
    row = f"{record_no},{person.citizen_id},{person.name},某公司,91440700MA00000000,2024-01-01,\n"
    return (EMPLOYMENT_V1 + row).encode()


def push(caller, content, *, path=BATCHES, filename="employment_2025.csv", media="text/csv",
         **extra):  # fmt: skip
    query = f"?filename={filename}" if filename is not None else ""
    return caller.http.post(
        f"{path}{query}", content, content_type=media, **caller.headers(**extra)
    )


def progress_without_times(body: dict) -> dict:
    assert body.pop("received_at")
    return body


def test_a_pushed_file_is_accepted_then_processed_and_its_progress_read(make_client, person):
    _client, key = make_client()
    caller = Caller(key)
    response = push(caller, employment(person))
    assert response.status_code == 202, response.content
    batch = Batch.objects.get()
    url = f"/api/v1/feeds/hrss/batches/{batch.pk}"
    assert progress_without_times(response.json()) == {
        "id": batch.pk, "department": "hrss", "feed": "employment", "schema_version": 1,
        "status": "received", "percent": 0, "received": 0, "applied": 0, "unchanged": 0,
        "rejected": 0, "attempts": 0, "finished_at": None, "url": url,
    }  # fmt: skip
    assert (batch.source, batch.filename, batch.fmt) == ("api", "employment_2025.csv", "csv")
    assert Fact.objects.count() == 0  # queued, not yet processed

    batch_process(batch_id=batch.pk)

    body = caller.get(url).json()
    assert body.pop("finished_at")
    assert progress_without_times(body) == {
        "id": batch.pk, "department": "hrss", "feed": "employment", "schema_version": 1,
        "status": "done", "percent": 100, "received": 1, "applied": 1, "unchanged": 0,
        "rejected": 0, "attempts": 1, "url": url,
    }  # fmt: skip
    assert Fact.objects.get().person_id == person.pk
    assert AccessLog.objects.count() == 0  # counts only: no personal data is read


def test_the_same_bytes_twice_are_the_same_batch(make_client, person):
    _client, key = make_client()
    caller = Caller(key)
    first = push(caller, employment(person))
    again = push(caller, employment(person), filename="employment_again.csv")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert Batch.objects.count() == 1
    other = push(caller, employment(person, record_no="R2"))
    assert other.json()["id"] != first.json()["id"]


def test_json_lines_are_accepted_with_their_media_type(make_client, person):
    _client, key = make_client()
    line = {"record_no": "J1", "citizen_id": person.citizen_id, "name": person.name,
            "employer": "某公司", "employer_credit_code": "91440700MA00000000",
            "start_date": "2024-01-01", "end_date": None}  # fmt: skip
    content = (json.dumps(line, ensure_ascii=False) + "\n").encode()
    response = push(Caller(key), content, filename="employment.jsonl", media="application/x-ndjson")
    assert response.status_code == 202, response.content
    batch = Batch.objects.get()
    assert (batch.fmt, batch.schema_version) == ("jsonl", 2)
    assert batch_process(batch_id=batch.pk).applied == 1


def test_a_repeated_idempotency_key_replays_the_answer(make_client, person):
    _client, key = make_client()
    caller = Caller(key)
    first = push(caller, employment(person), HTTP_IDEMPOTENCY_KEY="k-1")
    again = push(caller, employment(person), HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    other = push(caller, employment(person, record_no="R2"), HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(other, 422, "idempotency_key_reused")
    assert Batch.objects.count() == 1


def test_the_sharing_department_code_maps_to_the_feed_department(make_client, person):
    _client, key = make_client(department="edu")
    caller = Caller(key)
    assert_error(push(caller, employment(person)), 403, "department_not_allowed")
    content = "record_no,citizen_id,name,school,grade,start_date,end_date\nE1,1,2,3,4,5,\n"
    response = push(caller, content.encode(), path="/api/v1/feeds/edu/batches",
                    filename="enrolment.csv")  # fmt: skip
    assert response.status_code == 202, response.content
    assert (response.json()["department"], response.json()["feed"]) == ("edu", "enrolment")


@pytest.mark.parametrize(
    ("content", "query", "media", "status", "code"),
    [
        (None, "", "text/csv", 400, "parameter_required"),
        (None, "?filename=employment.csv&schema_version=x", "text/csv", 400,
         "invalid_schema_version"),
        (b"", "?filename=employment.csv", "text/csv", 400, "empty_file"),
        (b"a,b\n1,2\n", "?filename=employment.csv", "text/csv", 400, "unknown_header"),
        (None, "?filename=death.csv", "text/csv", 400, "not_authoritative"),
        (None, "?filename=yacht.csv", "text/csv", 400, "unknown_feed"),
        (None, "?filename=employment.csv", "application/json", 415, "unsupported_media_type"),
        (b"\xff\xfe\x00\x01", "?filename=employment.csv", "text/csv", 400, "encoding_suspect"),
    ],
)  # fmt: skip
def test_bad_pushes_are_refused_and_record_nothing(
    make_client, person, content, query, media, status, code
):
    _client, key = make_client()
    caller = Caller(key)
    body = employment(person) if content is None else content
    response = caller.http.post(f"{BATCHES}{query}", body, content_type=media, **caller.headers())
    assert_error(response, status, code)
    assert Batch.objects.count() == 0


def test_another_departments_feed_is_403_and_its_batch_404(make_client, person):
    _hrss, hrss_key = make_client()
    _health, health_key = make_client(department="health")
    batch_id = push(Caller(hrss_key), employment(person)).json()["id"]
    health = Caller(health_key)
    assert_error(push(health, employment(person)), 403, "department_not_allowed")
    assert_error(health.get(f"/api/v1/feeds/hrss/batches/{batch_id}"), 403,
                 "department_not_allowed")  # fmt: skip
    assert_error(health.get(f"/api/v1/feeds/health/batches/{batch_id}"), 404, "batch_not_found")
    assert_error(push(health, employment(person), path="/api/v1/feeds/psb/batches"), 403,
                 "department_not_allowed")  # fmt: skip
    assert Batch.objects.count() == 1


@pytest.mark.parametrize("batch_id", ["abc", "12abc", "0", "-1", "99999999999999999999"])
def test_a_batch_number_that_names_no_batch_is_a_json_404(make_client, batch_id):
    _client, key = make_client()
    response = Caller(key).get(f"/api/v1/feeds/hrss/batches/{batch_id}")
    assert_error(response, 404, "batch_not_found")


# -- encodings: declared by charset, or detected; a suspect file refused whole -----------------


def _gbk_feed(person) -> bytes:
    return employment(person).decode().encode("gbk")


def test_a_big5_file_is_refused_whole_with_encoding_suspect(make_client, person):
    _client, key = make_client()
    row = f"R1,{person.citizen_id},張偉,臺北市測試公司,91440700MA00000000,2024-01-01,"
    content = (EMPLOYMENT_V1 + "\n".join([row] * 4) + "\n").encode("big5")

    body = assert_error(push(Caller(key), content), 400, "encoding_suspect")

    assert "Big5" in body["message_en"] and "编码可疑" in body["message_zh"]
    assert not Batch.objects.exists()


def test_a_declared_charset_is_the_encoding_read(make_client, person):
    _client, key = make_client()
    response = push(Caller(key), _gbk_feed(person), media="text/csv; charset=GBK")
    assert response.status_code == 202, response.content
    batch = batch_process(batch_id=response.json()["id"])
    assert (batch.encoding, batch.applied) == ("gbk", 1)
    assert Fact.objects.get().reported_name == person.name


def test_an_unsupported_declared_charset_is_refused(make_client, person):
    _client, key = make_client()
    response = push(Caller(key), _gbk_feed(person), media="text/csv; charset=big5")
    assert_error(response, 400, "unsupported_encoding")
    assert not Batch.objects.exists()
