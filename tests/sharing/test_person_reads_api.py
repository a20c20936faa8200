"""GET /api/v1/persons/{citizen_id}/reads: who read this person, for the person's own request."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from population.audit import access_log_seal
from population.models import AccessLog, Region, RegionLevel
from tests.sharing.conftest import Caller, assert_error

PURPOSE = "data_subject_request"


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


@pytest.fixture
def people(make_person, village):
    county = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    return make_person(name="李四", hukou_region=village), make_person(hukou_region=county)


def _reads(person, n, *, start=None, who="民警甲"):
    start = start or timezone.now() - dt.timedelta(hours=1)
    rows = [
        AccessLog.objects.create(
            at=start + dt.timedelta(minutes=i),
            username=f"{who}{i}",
            channel="admin.person" if i % 2 else "api.persons",
            purpose="户籍业务办理（管理后台）",
            person_ids=[person.pk],
            fields=["name", "birth_date"],
            client="10.1.1.1",
        )
        for i in range(n)
    ]
    access_log_seal()
    return rows


def test_reads_newest_first_paged_by_cursor_and_the_listing_is_itself_logged(make_client, people):
    person, _ = people
    made = _reads(person, 7)
    _client, key = make_client(purposes=[PURPOSE])
    caller = Caller(key, PURPOSE)
    url = f"/api/v1/persons/{person.citizen_id}/reads"

    first = caller.get(url, {"limit": "3"})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["has_more"] is True
    top = body["results"][0]
    assert set(top) == {"at", "accessor", "channel", "channel_label", "purpose", "fields"}
    assert (top["accessor"], top["channel"], top["channel_label"]) == (
        "民警甲6",
        "api.persons",
        "共享接口：人员查询",
    )
    assert top["fields"] == ["name", "birth_date"]
    assert "client" not in top  # staff addresses stay inside
    names = [r["accessor"] for r in body["results"]]
    cursor = body["next_cursor"]
    while cursor:
        page = caller.get(url, {"limit": "3", "cursor": cursor}).json()
        names += [r["accessor"] for r in page["results"]]
        cursor = page["next_cursor"]
        assert page["has_more"] == bool(cursor)
    assert names == [r.username for r in reversed(made)]

    logged = AccessLog.objects.filter(channel="api.person_reads")
    assert logged.count() == 3  # one per page asked
    assert {tuple(r.person_ids) for r in logged} == {(person.pk,)}
    assert logged.first().purpose.startswith(PURPOSE)


def test_no_reads_yet_is_an_empty_page(make_client, people):
    person, _ = people
    _client, key = make_client(purposes=[PURPOSE])
    body = Caller(key, PURPOSE).get(f"/api/v1/persons/{person.citizen_id}/reads").json()
    assert body == {"results": [], "next_cursor": None, "has_more": False}


def test_only_on_the_persons_own_request(make_client, people):
    person, _ = people
    _reads(person, 1)
    _client, key = make_client(purposes=["social_insurance", PURPOSE])
    response = Caller(key, "social_insurance").get(f"/api/v1/persons/{person.citizen_id}/reads")
    assert_error(response, 403, "purpose_not_allowed")
    assert not AccessLog.objects.filter(channel="api.person_reads").exists()


def test_a_person_outside_the_clients_regions_is_not_found_like_an_unknown_one(make_client, people):
    inside, outside = people
    _reads(outside, 2)
    _client, key = make_client(purposes=[PURPOSE], region_prefixes=["441802"])
    caller = Caller(key, PURPOSE)
    outside_answer = caller.get(f"/api/v1/persons/{outside.citizen_id}/reads")
    unknown = caller.get("/api/v1/persons/11010519491231002X/reads")
    assert (
        assert_error(outside_answer, 404, "person_not_found")["message_zh"]
        == (assert_error(unknown, 404, "person_not_found")["message_zh"])
    )
    assert caller.get(f"/api/v1/persons/{inside.citizen_id}/reads").status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "abc"}, "invalid_cursor"),
        ({"cursor": "1_2_3"}, "invalid_cursor"),
        ({"cursor": "١_2"}, "invalid_cursor"),
        ({"cursor": ""}, "parameter_required"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "201"}, "invalid_limit"),
        ({"limit": "5\n"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"),
    ],
)
def test_bad_cursor_or_limit_is_400_and_not_logged(make_client, people, params, code):
    person, _ = people
    _client, key = make_client(purposes=[PURPOSE])
    response = Caller(key, PURPOSE).get(f"/api/v1/persons/{person.citizen_id}/reads", params)
    assert_error(response, 400, code)
    assert not AccessLog.objects.filter(channel="api.person_reads").exists()


def test_a_malformed_citizen_id_is_400(make_client, people):
    _client, key = make_client(purposes=[PURPOSE])
    response = Caller(key, PURPOSE).get("/api/v1/persons/12345/reads")
    assert_error(response, 400, "invalid_citizen_id")
