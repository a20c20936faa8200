"""Registration events: deaths (死亡注销), the happy paths and the refusals.

A refusal changes nothing (``assert_refused`` compares every row before and after) and the
error carries a stable code.
"""

from __future__ import annotations

import datetime as dt

import pytest

from population.codes import Relation
from population.models import PersonStatus
from registry import services
from registry.models import EventKind, Membership
from tests.registry.event_helpers import (
    BEFORE_JOINING,
    JOINED,
    assert_refused,
    event_of,
    memberships,
    only_event,
    refetch,
    tomorrow,
)

pytestmark = pytest.mark.django_db


# -- death_cancel -------------------------------------------------------------------------------


def test_death_closes_the_membership_and_records_the_person_deceased(ns, officer):
    died = dt.date(2022, 2, 2)

    services.death_cancel(
        person=ns.wife, death_date=died, document_number=" S2022-1 ", actor=officer
    )

    wife = refetch(ns.wife)
    assert wife.status == PersonStatus.DECEASED
    assert wife.hukou_region == ns.village  # the region stays, the status ends the registration
    assert not wife.is_registered
    assert memberships(wife) == [(ns.home.pk, Relation.WIFE, JOINED, died)]
    assert event_of(only_event(kind=EventKind.DEATH)) == {
        "kind": EventKind.DEATH,
        "person": wife.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": None,
        "effective_date": died,
        "reason": "死亡注销",
        "document_type": "死亡医学证明",
        "document_number": "S2022-1",
        "details": {"head_vacated": False},
    }
    # the others stay
    assert memberships(ns.head) == [(ns.home.pk, Relation.HEAD, JOINED, None)]


def test_death_of_the_head_vacates_the_headship_and_a_member_then_takes_it(ns):
    died = dt.date(2022, 2, 2)
    services.death_cancel(person=ns.head, death_date=died, document_number="S1", actor=None)

    assert only_event(kind=EventKind.DEATH).details == {"head_vacated": True}
    assert not Membership.objects.filter(
        household=ns.home, relation=Relation.HEAD, end_date__isnull=True
    ).exists()

    # when the widow becomes head, there is no former head to re-label
    services.head_change(
        household=ns.home,
        new_head=ns.wife,
        former_head_relation=Relation.HUSBAND,
        on=dt.date(2022, 3, 1),
        actor=None,
    )
    assert memberships(ns.wife) == [(ns.home.pk, Relation.HEAD, JOINED, None)]
    assert memberships(ns.head) == [(ns.home.pk, Relation.HEAD, JOINED, died)]
    assert only_event(kind=EventKind.HEAD_CHANGE).details == {"former_head_id": None}


def test_death_of_someone_not_registered_here_records_no_household(ns):
    services.death_cancel(
        person=ns.outsider, death_date=dt.date(2022, 1, 1), document_number="S3", actor=None
    )
    assert refetch(ns.outsider).status == PersonStatus.DECEASED
    event = only_event(kind=EventKind.DEATH)
    assert (event.from_household, event.to_household, event.details) == (
        None,
        None,
        {"head_vacated": False},
    )
    assert Membership.objects.filter(person=ns.outsider).count() == 0


def death(ns, **overrides):
    kwargs = {
        "person": ns.son,
        "death_date": dt.date(2022, 2, 2),
        "document_number": "S1",
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.death_cancel(**kwargs)


def test_death_refuses_a_date_before_birth(ns):
    # the son was born 2012-05-06
    assert_refused("date_order", death(ns, death_date=dt.date(2012, 5, 5)))


def test_death_refuses_a_future_date(ns):
    assert_refused("future_date", death(ns, death_date=tomorrow()))


def test_death_refuses_a_missing_certificate(ns):
    assert_refused("document_required", death(ns, document_number=" "))


def test_death_refuses_an_empty_reason(ns):
    assert_refused("reason_required", death(ns, reason=""))


def test_death_refuses_a_date_before_the_person_joined_the_household(ns):
    assert_refused("date_order", death(ns, death_date=BEFORE_JOINING))
