"""Registration events on households: creating, changing the head, splitting and closing
(立户、变更户主、分户、销户), the happy paths and the refusals.

A refusal changes nothing (``assert_refused`` compares every row before and after) and the
error carries a stable code.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import (
    DatabaseError,
    connection,
    transaction,
)

from population.codes import Relation
from registry import services
from registry.models import EventKind, Household, HouseholdKind, Membership, RegistrationEvent
from tests.registry.event_helpers import (
    BEFORE_JOINING,
    JOINED,
    LATER,
    assert_refused,
    cid,
    close,
    event_of,
    memberships,
    move_in,
    only_event,
    refetch,
    tomorrow,
)

pytestmark = pytest.mark.django_db


# -- household_create ---------------------------------------------------------------------------


def test_household_create_allocates_a_number_from_the_county_code_and_the_id(village, officer):
    # when a household is created
    household = services.household_create(
        kind=HouseholdKind.FAMILY, address=" 凤城路9号 ", region=village, actor=officer
    )

    # then its number is the county code and the zero-padded id; nothing else is set
    household = refetch(household)
    assert household.number == f"441802{household.pk:09d}"
    assert (household.kind, household.address, household.region, household.closed_on) == (
        HouseholdKind.FAMILY,
        "凤城路9号",
        village,
        None,
    )
    [history] = Household.pgh_event_model.objects.filter(pgh_obj=household)
    assert history.pgh_label == "insert"
    assert history.pgh_context.metadata == {"user": officer.pk, "reason": "立户"}


def test_household_create_refuses_a_region_that_is_not_a_village(village):
    assert_refused(
        "bad_region",
        lambda: services.household_create(
            kind=HouseholdKind.FAMILY, address="凤城路9号", region=village.parent, actor=None
        ),
    )


def test_household_create_refuses_an_empty_address(village):
    assert_refused(
        "address_required",
        lambda: services.household_create(
            kind=HouseholdKind.FAMILY, address="  ", region=village, actor=None
        ),
    )


def test_household_create_refuses_an_empty_reason(village):
    assert_refused(
        "reason_required",
        lambda: services.household_create(
            kind=HouseholdKind.FAMILY, address="凤城路9号", region=village, actor=None, reason=""
        ),
    )


def test_household_create_refuses_an_unknown_kind(village):
    assert_refused(
        "bad_household_kind",
        lambda: services.household_create(
            kind="bogus", address="凤城路9号", region=village, actor=None
        ),
    )


# -- head_change --------------------------------------------------------------------------------


def test_head_change_swaps_the_relations_in_place(ns, officer):
    head_membership = Membership.objects.get(person=ns.head, end_date__isnull=True)
    wife_membership = Membership.objects.get(person=ns.wife, end_date__isnull=True)
    memberships_before = Membership.objects.count()

    household = services.head_change(
        household=ns.home,
        new_head=ns.wife,
        former_head_relation=Relation.HUSBAND,
        on=LATER,
        actor=officer,
    )

    assert household.pk == ns.home.pk
    assert Membership.objects.count() == memberships_before  # relations change, no new rows
    assert refetch(head_membership).relation == Relation.HUSBAND
    assert refetch(wife_membership).relation == Relation.HEAD
    assert memberships(ns.head) == [(ns.home.pk, Relation.HUSBAND, JOINED, None)]
    assert memberships(ns.wife) == [(ns.home.pk, Relation.HEAD, JOINED, None)]
    assert refetch(ns.wife).hukou_region == ns.village
    assert event_of(only_event(kind=EventKind.HEAD_CHANGE)) == {
        "kind": EventKind.HEAD_CHANGE,
        "person": ns.wife.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": ns.home.pk,
        "effective_date": LATER,
        "reason": "变更户主",
        "document_type": "",
        "document_number": "",
        "details": {"former_head_id": ns.head.pk},
    }


def test_after_a_head_change_the_former_head_may_move_out(ns):
    services.head_change(
        household=ns.home,
        new_head=ns.wife,
        former_head_relation=Relation.HUSBAND,
        on=LATER,
        actor=None,
    )
    services.move_out(
        person=ns.head, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    assert refetch(ns.head).hukou_region is None


def head_change(ns, **overrides):
    kwargs = {
        "household": ns.home,
        "new_head": ns.wife,
        "former_head_relation": Relation.HUSBAND,
        "on": LATER,
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.head_change(**kwargs)


def test_head_change_refuses_a_non_member(ns):
    assert_refused("not_a_member", head_change(ns, new_head=ns.other_head))
    assert_refused("not_a_member", head_change(ns, new_head=ns.outsider))


def test_head_change_refuses_the_current_head(ns):
    assert_refused("no_change", head_change(ns, new_head=ns.head))


def test_head_change_refuses_head_as_the_former_heads_relation(ns):
    assert_refused("bad_relation", head_change(ns, former_head_relation=Relation.HEAD))


def test_head_change_refuses_a_collective_household(ns):
    services.settle_into_collective(
        person=ns.outsider, from_household=None, to_household=ns.unit, on=LATER, actor=None
    )
    assert_refused("bad_household_kind", head_change(ns, household=ns.unit, new_head=ns.outsider))


def test_head_change_refuses_a_closed_household_and_an_empty_reason(ns):
    assert_refused("reason_required", head_change(ns, reason=""))
    close(ns.spare)
    assert_refused("household_closed", head_change(ns, household=ns.spare))


def test_head_change_refuses_a_future_date(ns):
    assert_refused("future_date", head_change(ns, on=tomorrow()))


# -- household_split ----------------------------------------------------------------------------


@pytest.fixture
def couple(ns):
    """The son's wife joins the family, so the young couple can split off."""
    ns.daughter_in_law = move_in(
        ns.home, cid(14, dt.date(1992, 2, 2)), Relation.DAUGHTER_IN_LAW, "林媳"
    )
    return ns


def test_split_forms_a_new_family_household_headed_by_the_first_member(couple, officer):
    ns = couple
    households_before = Household.objects.count()

    new = services.household_split(
        household=ns.home,
        members=[(ns.son, Relation.HEAD), (ns.daughter_in_law, Relation.WIFE)],
        address=" 凤城路1号之一 ",
        on=LATER,
        actor=officer,
    )

    new = refetch(new)
    assert Household.objects.count() == households_before + 1
    assert new.number == f"441802{new.pk:09d}"
    assert (new.kind, new.address, new.region, new.closed_on) == (
        HouseholdKind.FAMILY,
        "凤城路1号之一",
        ns.village,
        None,
    )
    assert memberships(ns.son) == [
        (ns.home.pk, Relation.SON, JOINED, LATER),
        (new.pk, Relation.HEAD, LATER, None),
    ]
    assert memberships(ns.daughter_in_law) == [
        (ns.home.pk, Relation.DAUGHTER_IN_LAW, JOINED, LATER),
        (new.pk, Relation.WIFE, LATER, None),
    ]
    assert memberships(ns.head) == [(ns.home.pk, Relation.HEAD, JOINED, None)]
    assert memberships(ns.wife) == [(ns.home.pk, Relation.WIFE, JOINED, None)]
    events = RegistrationEvent.objects.filter(kind=EventKind.SPLIT).order_by("pk")
    assert [event_of(e) for e in events] == [
        {
            "kind": EventKind.SPLIT,
            "person": person.pk,
            "officer": officer.pk,
            "from": ns.home.pk,
            "to": new.pk,
            "effective_date": LATER,
            "reason": "分户",
            "document_type": "",
            "document_number": "",
            "details": {},
        }
        for person in (ns.son, ns.daughter_in_law)
    ]
    assert refetch(ns.son).hukou_region == ns.village


def test_split_into_another_village_moves_the_hukou_there(couple):
    ns = couple
    new = services.household_split(
        household=ns.home,
        members=[(ns.son, Relation.HEAD)],
        address="清远大道9号",
        region=ns.village2,
        on=LATER,
        actor=None,
    )
    assert refetch(new).region == ns.village2
    assert refetch(new).number.startswith("441802")
    assert refetch(ns.son).hukou_region == ns.village2
    assert refetch(ns.daughter_in_law).hukou_region == ns.village


def split(ns, members, **overrides):
    kwargs = {
        "household": ns.home,
        "members": members,
        "address": "凤城路1号之一",
        "on": LATER,
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.household_split(**kwargs)


def test_split_refuses_no_members(ns):
    assert_refused("members_required", split(ns, []))


def test_split_refuses_leaving_nobody(ns):
    members = [(ns.head, Relation.HEAD), (ns.wife, Relation.WIFE), (ns.son, Relation.SON)]
    assert_refused("nobody_left", split(ns, members))


def test_split_refuses_the_same_person_twice(couple):
    ns = couple
    assert_refused("duplicate_member", split(ns, [(ns.son, Relation.HEAD), (ns.son, Relation.SON)]))


def test_split_refuses_a_first_member_who_is_not_head_or_a_second_head(couple):
    ns = couple
    assert_refused(
        "bad_relation",
        split(ns, [(ns.son, Relation.SON), (ns.daughter_in_law, Relation.HEAD)]),
    )
    assert_refused(
        "bad_relation",
        split(ns, [(ns.son, Relation.HEAD), (ns.daughter_in_law, Relation.HEAD)]),
    )


def test_split_refuses_the_head_leaving_others_without_a_head(ns):
    assert_refused("head_must_change", split(ns, [(ns.head, Relation.HEAD)]))


def test_split_refuses_someone_not_in_the_household(ns):
    assert_refused("stale_membership", split(ns, [(ns.other_head, Relation.HEAD)]))
    assert_refused("not_registered", split(ns, [(ns.outsider, Relation.HEAD)]))


def test_split_refuses_a_future_date_a_date_before_joining_and_an_empty_reason(ns):
    assert_refused("future_date", split(ns, [(ns.son, Relation.HEAD)], on=tomorrow()))
    assert_refused("date_order", split(ns, [(ns.son, Relation.HEAD)], on=BEFORE_JOINING))
    assert_refused("reason_required", split(ns, [(ns.son, Relation.HEAD)], reason=""))


def test_split_refuses_a_closed_household_and_a_region_that_is_not_a_village(ns):
    assert_refused("bad_region", split(ns, [(ns.son, Relation.HEAD)], region=ns.village.parent))
    close(ns.spare)
    assert_refused("household_closed", split(ns, [(ns.son, Relation.HEAD)], household=ns.spare))


# -- household_close ----------------------------------------------------------------------------


def test_closing_an_empty_household(ns, officer):
    household = services.household_close(
        household=ns.spare, on=LATER, actor=officer, reason="无人居住"
    )

    assert refetch(household).closed_on == LATER
    last = Household.pgh_event_model.objects.filter(pgh_obj=ns.spare).order_by("pgh_id").last()
    assert (last.pgh_label, last.closed_on) == ("update", LATER)
    assert last.pgh_context.metadata == {"user": officer.pk, "reason": "无人居住"}


def test_closing_refuses_a_household_with_members(ns):
    assert_refused(
        "household_not_empty",
        lambda: services.household_close(household=ns.home, on=LATER, actor=None, reason="x"),
    )


def test_closing_refuses_a_closed_household(ns):
    close(ns.spare)
    assert_refused(
        "household_closed",
        lambda: services.household_close(household=ns.spare, on=LATER, actor=None, reason="x"),
    )


def test_the_database_refuses_closing_a_household_with_members_by_raw_sql(ns):
    with pytest.raises(DatabaseError, match="still has members"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE registry_household SET closed_on = %s WHERE id = %s", [LATER, ns.home.pk]
            )
    assert refetch(ns.home).closed_on is None


def test_closing_refuses_an_empty_reason(ns):
    assert_refused(
        "reason_required",
        lambda: services.household_close(household=ns.spare, on=LATER, actor=None, reason=""),
    )


def test_closing_refuses_a_future_date(ns):
    assert_refused(
        "future_date",
        lambda: services.household_close(household=ns.spare, on=tomorrow(), actor=None, reason="x"),
    )


def test_closing_refuses_a_date_before_the_last_member_left(ns):
    services.move_out(
        person=ns.other_head, from_household=ns.other, destination="深圳", on=LATER, actor=None
    )
    assert_refused(
        "date_order",
        lambda: services.household_close(
            household=ns.other, on=dt.date(2020, 6, 1), actor=None, reason="x"
        ),
    )
