"""Registration events: what every service obeys: no event for a deceased or cancelled person,
history rows naming the officer and the reason, and the lock order (persons, then households).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import (
    OperationalError,
    close_old_connections,
    connection,
)

from population.codes import Relation
from population.models import Person, PersonStatus
from registry import services
from registry.models import Household, HouseholdKind, Membership
from registry.services import _common as services_common
from registry.services import households as household_services
from tests.registry.event_helpers import (
    LATER,
    assert_refused,
    cid,
    refetch,
)

pytestmark = pytest.mark.django_db


# -- deceased and cancelled persons -------------------------------------------------------------


def _deceased(ns):
    services.death_cancel(person=ns.son, death_date=LATER, document_number="S1", actor=None)


def _cancelled(ns):
    Person.objects.filter(pk=ns.son.pk).update(status=PersonStatus.CANCELLED)


EVENTS_ON_THE_SON = {
    "death_cancel": lambda ns: services.death_cancel(
        person=ns.son, death_date=LATER, document_number="S2", actor=None
    ),
    "move_out": lambda ns: services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    ),
    "move_in": lambda ns: services.move_in(
        citizen_id=ns.son.citizen_id,
        name="王小",
        household=ns.spare,
        relation=Relation.HEAD,
        transfer_permit_number="T9",
        on=LATER,
        actor=None,
    ),
    "move_within_city": lambda ns: services.move_within_city(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.spare,
        relation=Relation.HEAD,
        on=LATER,
        actor=None,
    ),
    "attach_to_relative": lambda ns: services.attach_to_relative(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        owner_consent_document="C1",
        on=LATER,
        actor=None,
    ),
    "settle_from_household": lambda ns: services.settle_into_collective(
        person=ns.son, from_household=ns.home, to_household=ns.unit, on=LATER, actor=None
    ),
    "settle_unregistered": lambda ns: services.settle_into_collective(
        person=ns.son, from_household=None, to_household=ns.unit, on=LATER, actor=None
    ),
    "head_change": lambda ns: services.head_change(
        household=ns.home,
        new_head=ns.son,
        former_head_relation=Relation.FATHER,
        on=LATER,
        actor=None,
    ),
    "household_split": lambda ns: services.household_split(
        household=ns.home,
        members=[(ns.son, Relation.HEAD)],
        address="凤城路1号之二",
        on=LATER,
        actor=None,
    ),
}


@pytest.mark.parametrize("make_inactive", [_deceased, _cancelled], ids=["deceased", "cancelled"])
@pytest.mark.parametrize("event", list(EVENTS_ON_THE_SON), ids=list(EVENTS_ON_THE_SON))
def test_no_event_for_a_deceased_or_cancelled_person(ns, make_inactive, event):
    make_inactive(ns)
    assert not refetch(ns.son).is_registered
    assert_refused("person_inactive", lambda: EVENTS_ON_THE_SON[event](ns))


# -- history ------------------------------------------------------------------------------------


HISTORY_CASES = {
    "birth_register": lambda ns, actor, reason: services.birth_register(
        household=ns.home,
        name="王宝",
        sex=1,
        birth_date=dt.date(2021, 7, 8),
        relation=Relation.SON,
        birth_certificate_number="Q1",
        actor=actor,
        reason=reason,
    ),
    "death_cancel": lambda ns, actor, reason: services.death_cancel(
        person=ns.son, death_date=LATER, document_number="S1", actor=actor, reason=reason
    ),
    "move_out": lambda ns, actor, reason: services.move_out(
        person=ns.son,
        from_household=ns.home,
        destination="广州",
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "move_in": lambda ns, actor, reason: services.move_in(
        citizen_id=cid(51),
        name="周新",
        household=ns.spare,
        relation=Relation.HEAD,
        transfer_permit_number="T9",
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "move_within_city": lambda ns, actor, reason: services.move_within_city(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "attach_to_relative": lambda ns, actor, reason: services.attach_to_relative(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        owner_consent_document="C1",
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "settle_into_collective": lambda ns, actor, reason: services.settle_into_collective(
        person=ns.outsider,
        from_household=None,
        to_household=ns.unit,
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "head_change": lambda ns, actor, reason: services.head_change(
        household=ns.home,
        new_head=ns.wife,
        former_head_relation=Relation.HUSBAND,
        on=LATER,
        actor=actor,
        reason=reason,
    ),
    "household_split": lambda ns, actor, reason: services.household_split(
        household=ns.home,
        members=[(ns.son, Relation.HEAD)],
        address="凤城路1号之一",
        on=LATER,
        actor=actor,
        reason=reason,
    ),
}


def _history_marks() -> dict:
    return {
        model: model.pgh_event_model.objects.order_by("-pgh_id")
        .values_list("pgh_id", flat=True)
        .first()
        or 0
        for model in (Membership, Household, Person)
    }


def _history_since(marks: dict, model) -> list:
    return list(
        model.pgh_event_model.objects.filter(pgh_id__gt=marks[model])
        .select_related("pgh_context")
        .order_by("pgh_id")
    )


@pytest.mark.parametrize("case", list(HISTORY_CASES), ids=list(HISTORY_CASES))
def test_every_event_leaves_membership_history_with_the_officer_and_the_reason(ns, officer, case):
    reason = f"测试原因：{case}"
    marks = _history_marks()

    HISTORY_CASES[case](ns, officer, reason)

    membership_rows = _history_since(marks, Membership)
    assert membership_rows, "the event changed memberships, so history rows must exist"
    all_rows = membership_rows + _history_since(marks, Household) + _history_since(marks, Person)
    assert [row.pgh_context.metadata for row in all_rows] == [
        {"user": officer.pk, "reason": reason}
    ] * len(all_rows)


def test_move_within_history_shows_the_closed_and_the_opened_membership(ns, officer):
    marks = _history_marks()
    services.move_within_city(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        on=LATER,
        actor=officer,
        reason="随祖父生活",
    )
    rows = _history_since(marks, Membership)
    assert [(r.pgh_label, r.household_id, r.relation, r.end_date) for r in rows] == [
        ("update", ns.home.pk, Relation.SON, LATER),
        ("insert", ns.other.pk, Relation.GRANDSON, None),
    ]
    person_rows = _history_since(marks, Person)
    assert [(r.pgh_label, r.hukou_region_id) for r in person_rows] == [("update", ns.village2.pk)]


def test_household_create_and_close_leave_household_history_with_the_reason(village, officer):
    marks = _history_marks()
    household = services.household_create(
        kind=HouseholdKind.FAMILY,
        address="凤城路9号",
        region=village,
        actor=officer,
        reason="新立户",
    )
    services.household_close(household=household, on=LATER, actor=officer, reason="并户")
    rows = _history_since(marks, Household)
    assert [(r.pgh_label, r.closed_on, r.pgh_context.metadata) for r in rows] == [
        ("insert", None, {"user": officer.pk, "reason": "新立户"}),
        ("update", LATER, {"user": officer.pk, "reason": "并户"}),
    ]


# -- lock order ---------------------------------------------------------------------------------


# The modules whose services call ``_lock`` in the interleaved runs below (``_move`` is in
# ``_common``, ``head_change`` in ``households``).
LOCKING_MODULES = (services_common, household_services)


def _run_interleaved(work: dict[str, Callable[[], object]]) -> dict:
    """Run each named job in its own thread; once a thread holds the rows of its first lock
    (``_lock``: its persons, then its households) it waits (up to 5 s) for the other
    thread to take its own."""
    barrier = threading.Barrier(len(work))
    results: dict[str, object] = {}
    local = threading.local()
    real = services_common._lock

    def locked(*args, **kwargs):
        out = real(*args, **kwargs)
        if not getattr(local, "waited", False):
            local.waited = True
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)
        return out

    def target(name):
        try:
            results[name] = work[name]()
        except Exception as exc:  # the test inspects every outcome
            results[name] = exc
        finally:
            connection.close()

    for module in LOCKING_MODULES:
        module._lock = locked
    try:
        threads = [threading.Thread(target=target, args=(n,), name=n) for n in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for module in LOCKING_MODULES:
            module._lock = real
        close_old_connections()
    return results


@pytest.mark.django_db(transaction=True)
def test_a_head_change_and_a_move_of_the_same_member_at_once_do_not_deadlock(ns):
    results = _run_interleaved(
        {
            "head_change": lambda: services.head_change(
                household=ns.home,
                new_head=ns.son,
                former_head_relation=Relation.FATHER,
                on=LATER,
                actor=None,
            ),
            "move": lambda: services.move_within_city(
                person=ns.son,
                from_household=ns.home,
                to_household=ns.other,
                relation=Relation.GRANDSON,
                on=LATER,
                actor=None,
            ),
        },
    )
    assert not any(isinstance(r, OperationalError) for r in results.values()), results
    outcomes = sorted(type(r).__name__ for r in results.values())
    assert outcomes in (["DomainError", "Membership"], ["DomainError", "Household"]), results
