"""The change feed: registry events and ID corrections land in the outbox, and a client that
keeps its cursor misses nothing and sees nothing twice, even when transactions commit late."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pytest
from django.db import ProgrammingError, close_old_connections, connection, transaction
from django.utils import timezone

from population.codes import Relation
from population.identity import build_citizen_id
from population.models import AccessLog, ChangeEvent, Region, RegionLevel
from population.services import change_record, person_correct_citizen_id
from registry import services as registry
from registry.models import HouseholdKind
from tests.dburl import both_layers_refuse
from tests.sharing.conftest import Caller, assert_error


def _page(caller, cursor=None, limit=None):
    params = {}
    if cursor is not None:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    response = caller.get("/api/v1/changes", params)
    assert response.status_code == 200, response.content
    return response.json()


def _drain(caller, cursor=None, limit=2):
    seen = []
    while True:
        page = _page(caller, cursor, limit)
        seen += page["results"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen, cursor


def test_registration_events_and_id_corrections_enter_the_feed(make_client, village):
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路1号", region=village, actor=None
    )
    mother = registry.move_in(
        citizen_id=build_citizen_id("441802", dt.date(1990, 5, 5), 2),
        name="周红",
        household=household,
        relation=Relation.HEAD,
        transfer_permit_number="T-9",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    baby = registry.birth_register(
        household=household,
        name="周小",
        sex=1,
        birth_date=dt.date(2024, 1, 2),
        relation=Relation.SON,
        birth_certificate_number="Q1",
        actor=None,
    )
    person_correct_citizen_id(
        person=mother,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 5, 5), 4),
        actor=None,
        reason="重号更正",
    )
    rows = list(ChangeEvent.objects.order_by("id").values_list("kind", "person_id", "regions"))
    assert rows == [
        ("move_in", mother.pk, ["441802006001"]),
        ("birth", baby.pk, ["441802006001"]),
        ("id_correction", mother.pk, ["441802006001"]),
    ]
    _client, key = make_client(change_kinds=["birth", "move_in"])
    seen, _ = _drain(Caller(key))
    assert [(c["kind"], c["effective_date"]) for c in seen] == [
        ("move_in", "2020-01-01"),
        ("birth", "2024-01-02"),
    ]
    assert seen[1]["citizen_id"].count("*") == 8  # masked


def test_refused_registration_leaves_no_change(village):
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路2号", region=village, actor=None
    )
    with pytest.raises(Exception):  # noqa: B017 (the registry's own guard, any refusal)
        registry.birth_register(
            household=household,
            name="未来",
            sex=1,
            birth_date=timezone.localdate() + dt.timedelta(days=3),
            relation=Relation.SON,
            birth_certificate_number="Q2",
            actor=None,
        )
    assert ChangeEvent.objects.count() == 0


def test_change_record_refuses_to_run_outside_a_transaction(make_person, settings):
    person = make_person()
    # The test's own transaction wraps everything, so leave it for this one check.
    connection.in_atomic_block, saved = False, connection.in_atomic_block
    try:
        with pytest.raises(RuntimeError):
            change_record(kind="birth", person=person, source="t")
    finally:
        connection.in_atomic_block = saved


@both_layers_refuse("Cannot update or delete")
def test_outbox_rejects_update_and_delete_in_the_database(make_person, refusal):
    person = make_person()
    with transaction.atomic():
        event = change_record(kind="birth", person=person, source="t")
    for sql in (
        "UPDATE population_changeevent SET kind = 'death' WHERE id = %s",
        "DELETE FROM population_changeevent WHERE id = %s",
    ):
        with (
            pytest.raises(ProgrammingError, match=refusal),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(sql, [event.pk])
    assert ChangeEvent.objects.get().kind == "birth"


def test_paging_kinds_regions_and_cursor_contract(make_client, make_person, village):
    county = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    near, far = make_person(hukou_region=village), make_person(hukou_region=None)
    with transaction.atomic():
        for i in range(7):
            change_record(kind="birth" if i % 2 else "death", person=near, source=f"t{i}")
        change_record(kind="birth", person=far, source="far", regions=[county.code])
    _client, key = make_client(change_kinds=["birth"], region_prefixes=["441802"])
    caller = Caller(key)
    first = _page(caller, limit=2)
    assert [c["kind"] for c in first["results"]] == ["birth", "birth"]
    assert first["has_more"] is True
    seen, cursor = _drain(caller, limit=2)
    assert len(seen) == 3  # births of `near` only: 1, 3, 5
    ids = [c["id"] for c in seen]
    assert ids == sorted(ids) and len(set(ids)) == 3
    # Nothing new: the same cursor comes back, with no results.
    assert _page(caller, cursor) == {"results": [], "next_cursor": cursor, "has_more": False}
    # Each non-empty page was logged as a read of those persons.
    assert set(AccessLog.objects.values_list("channel", flat=True)) == {"api.changes"}
    assert all(row == [near.pk] for row in AccessLog.objects.values_list("person_ids", flat=True))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "abc"}, "invalid_cursor"),
        ({"cursor": "-1"}, "invalid_cursor"),
        ({"cursor": "9" * 19}, "invalid_cursor"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "1001"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": ""}, "invalid_limit"),
        ({"limit": "\u0663"}, "invalid_limit"),  # Arabic-Indic 3: a digit to str.isdigit
        ({"limit": "\u00b2"}, "invalid_limit"),  # superscript 2: isdigit, yet int() fails
        ({"limit": "5\n"}, "invalid_limit"),
        ({"cursor": "5\n"}, "invalid_cursor"),
    ],
)
def test_bad_cursor_or_limit_is_400(params, code, make_client):
    _client, key = make_client()
    assert_error(Caller(key).get("/api/v1/changes", params), 400, code)


def test_client_without_subscribed_kinds_sees_nothing(make_client, make_person):
    person = make_person()
    with transaction.atomic():
        change_record(kind="birth", person=person, source="t")
    _client, key = make_client(change_kinds=[])
    assert _page(Caller(key))["results"] == []


# -- commit order ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_change_committing_late_is_not_skipped(make_client, make_person):
    """T1 draws its id first but commits last: a reader must not move its cursor past it."""
    person = make_person()
    _client, key = make_client(change_kinds=["birth", "death"])
    t1_recorded, t1_commit = threading.Event(), threading.Event()
    t2_started, t2_done = threading.Event(), threading.Event()

    def t1():
        try:
            with transaction.atomic():
                change_record(kind="birth", person=person, source="t1")
                t1_recorded.set()
                t1_commit.wait(10)
        finally:
            connection.close()

    def t2():
        try:
            t1_recorded.wait(10)
            t2_started.set()
            with transaction.atomic():
                change_record(kind="death", person=person, source="t2")
            t2_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=t1), threading.Thread(target=t2)]
    for t in threads:
        t.start()
    t2_started.wait(10)
    time.sleep(0.3)
    # T2 waits for T1's lock: it cannot commit a later id while T1's is pending.
    assert not t2_done.is_set()
    caller = Caller(key)
    page = _page(caller)
    assert page["results"] == []
    t1_commit.set()
    for t in threads:
        t.join(10)
    close_old_connections()
    seen, _ = _drain(caller, page["next_cursor"])
    assert [c["kind"] for c in seen] == ["birth", "death"]


@pytest.mark.django_db(transaction=True)
def test_reader_polling_during_concurrent_writers_misses_nothing_and_repeats_nothing(
    make_client, make_person
):
    person = make_person()
    _client, key = make_client(change_kinds=["birth"])
    writers_done = threading.Event()
    seen: list[int] = []

    def writer(i):
        rng = random.Random(i)
        try:
            for n in range(8):
                with transaction.atomic():
                    time.sleep(rng.random() * 0.01)
                    change_record(kind="birth", person=person, source=f"w{i}.{n}")
                    time.sleep(rng.random() * 0.01)  # commit late, after others started
                    if n % 4 == 3:
                        transaction.set_rollback(True)  # some never commit at all
        finally:
            connection.close()

    def reader():
        caller, cursor = Caller(key), None
        try:
            while True:
                finished = writers_done.is_set()
                page = _page(caller, cursor, limit=3)
                seen.extend(c["id"] for c in page["results"])
                cursor = page["next_cursor"]
                if finished and not page["has_more"]:
                    return
        finally:
            connection.close()

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(5)]
    reading = threading.Thread(target=reader)
    reading.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(30)
    writers_done.set()
    reading.join(30)
    close_old_connections()
    committed = list(ChangeEvent.objects.order_by("id").values_list("id", flat=True))
    assert len(committed) == 5 * 6
    assert seen == committed
