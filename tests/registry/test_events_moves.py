"""Registration events: moves out, in and within the city, attaching to a relative and settling
into a collective household (迁出、迁入、市内迁移、投靠、集体户落户), the happy paths and the
refusals.

A refusal changes nothing (``assert_refused`` compares every row before and after) and the
error carries a stable code.
"""

from __future__ import annotations

import datetime as dt

import pytest

from population.codes import Relation
from population.models import Person, PersonStatus
from registry import services
from registry.models import EventKind, Membership, RegistrationEvent
from tests.registry.event_helpers import (
    BEFORE_JOINING,
    JOINED,
    LATER,
    PERMIT,
    N,
    assert_refused,
    cid,
    close,
    event_of,
    memberships,
    move_in,
    only_event,
    refetch,
    resolve,
    tomorrow,
)

pytestmark = pytest.mark.django_db


# -- move_out -----------------------------------------------------------------------------------


def test_move_out_closes_the_membership_clears_the_hukou_and_issues_a_permit(ns, officer):
    event = services.move_out(
        person=ns.son,
        from_household=ns.home,
        destination=" 广州市天河区 ",
        on=LATER,
        actor=officer,
    )

    son = refetch(ns.son)
    assert son.hukou_region is None
    assert son.status == PersonStatus.ACTIVE
    assert not son.is_registered
    assert memberships(son) == [(ns.home.pk, Relation.SON, JOINED, LATER)]
    assert PERMIT.fullmatch(event.document_number)
    assert event.document_number.startswith("QC2021")
    assert event_of(refetch(event)) == {
        "kind": EventKind.MOVE_OUT,
        "person": son.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": None,
        "effective_date": LATER,
        "reason": "迁出",
        "document_type": "户口迁移证",
        "document_number": event.document_number,
        "details": {"destination": "广州市天河区"},
    }


def test_two_move_outs_get_different_permit_numbers(ns):
    first = services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    second = services.move_out(
        person=ns.other_head, from_household=ns.other, destination="深圳", on=LATER, actor=None
    )
    assert PERMIT.fullmatch(first.document_number)
    assert PERMIT.fullmatch(second.document_number)
    assert first.document_number != second.document_number


def test_the_last_member_moving_out_leaves_an_empty_household_that_can_close(ns):
    services.move_out(
        person=ns.other_head, from_household=ns.other, destination="深圳", on=LATER, actor=None
    )
    assert not Membership.objects.filter(household=ns.other, end_date__isnull=True).exists()
    services.household_close(household=ns.other, on=LATER, actor=None, reason="户内无人")
    assert refetch(ns.other).closed_on == LATER


def move_out(ns, **overrides):
    kwargs = {
        "person": ns.son,
        "from_household": ns.home,
        "destination": "广州",
        "on": LATER,
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.move_out(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"destination": " "}, "destination_required", id="no-destination"),
        pytest.param({"from_household": N("other")}, "stale_membership", id="wrong-household"),
        pytest.param({"person": N("outsider")}, "not_registered", id="not-registered"),
        pytest.param({"on": BEFORE_JOINING}, "date_order", id="before-joining"),
        pytest.param({"person": N("head")}, "head_must_change", id="head-leaves-others"),
        pytest.param({"reason": ""}, "reason_required", id="empty-reason"),
    ],
)
def test_move_out_refuses_bad_input_and_writes_nothing(ns, overrides, code):
    assert_refused(code, move_out(ns, **resolve(ns, overrides)))


def test_move_out_refuses_a_future_date(ns):
    assert_refused("future_date", move_out(ns, on=tomorrow()))


def test_someone_who_moved_out_cannot_move_out_again(ns):
    services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    assert_refused("not_registered", move_out(ns))


# -- move_in ------------------------------------------------------------------------------------


def test_move_in_records_a_new_person_and_registers_them(ns, officer):
    number = cid(51, dt.date(1985, 3, 4))
    typed = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))

    person = services.move_in(
        citizen_id=f" {typed} ",
        name=" 周新 ",
        household=ns.spare,
        relation=Relation.HEAD,
        transfer_permit_number=" QC202000000007 ",
        on=LATER,
        actor=officer,
        ethnicity="03",
    )

    person = refetch(person)
    assert (person.citizen_id, person.name, person.sex, person.birth_date) == (
        number,
        "周新",
        1,
        dt.date(1985, 3, 4),
    )
    assert (person.ethnicity, person.status, person.hukou_region) == (
        "03",
        PersonStatus.ACTIVE,
        ns.village2,
    )
    assert person.is_registered
    assert memberships(person) == [(ns.spare.pk, Relation.HEAD, LATER, None)]
    assert event_of(only_event(person=person)) == {
        "kind": EventKind.MOVE_IN,
        "person": person.pk,
        "officer": officer.pk,
        "from": None,
        "to": ns.spare.pk,
        "effective_date": LATER,
        "reason": "迁入",
        "document_type": "户口迁移证",
        "document_number": "QC202000000007",
        "details": {},
    }


def test_move_in_of_someone_already_recorded_reuses_the_person(ns):
    # given a person the city knows but who is not registered here
    persons = Person.objects.count()

    person = move_in(ns.spare, ns.outsider.citizen_id, Relation.HEAD, "另一个名字", on=LATER)

    assert person.pk == ns.outsider.pk
    assert Person.objects.count() == persons
    person = refetch(person)
    assert (person.name, person.hukou_region) == ("赵外", ns.village2)  # the name is kept
    assert memberships(person) == [(ns.spare.pk, Relation.HEAD, LATER, None)]


def test_someone_who_moved_out_can_move_back_in(ns):
    services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    back = dt.date(2022, 5, 5)

    person = move_in(ns.home, ns.son.citizen_id, Relation.SON, on=back)

    assert person.pk == ns.son.pk
    assert refetch(person).hukou_region == ns.village
    assert memberships(person) == [
        (ns.home.pk, Relation.SON, JOINED, LATER),
        (ns.home.pk, Relation.SON, back, None),
    ]
    assert [e.kind for e in RegistrationEvent.objects.filter(person=person).order_by("pk")] == [
        EventKind.MOVE_IN,
        EventKind.MOVE_OUT,
        EventKind.MOVE_IN,
    ]


def move_in_call(ns, **overrides):
    kwargs = {
        "citizen_id": cid(51),
        "name": "周新",
        "household": ns.spare,
        "relation": Relation.HEAD,
        "transfer_permit_number": "T9",
        "on": LATER,
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.move_in(**kwargs)


@pytest.mark.parametrize(
    "bad",
    [
        "44180219900101123",  # 17 characters
        cid(51)[:-1] + ("0" if cid(51)[-1] != "0" else "1"),  # wrong check digit
        "441802199002301234",  # no such date
        "ABCDEFGHIJKLMNOPQR",
    ],
)
def test_move_in_refuses_an_invalid_citizen_id(ns, bad):
    assert_refused("invalid_citizen_id", move_in_call(ns, citizen_id=bad))


def test_move_in_refuses_someone_already_registered(ns):
    error = assert_refused(
        "already_registered",
        move_in_call(ns, citizen_id=ns.son.citizen_id, relation=Relation.SON),
    )
    assert "市内迁移" in error.message_zh


def test_move_in_refuses_a_second_head(ns):
    assert_refused("head_exists", move_in_call(ns, household=ns.other))


def test_move_in_refuses_a_head_for_a_collective_household(ns):
    assert_refused("bad_relation", move_in_call(ns, household=ns.unit))


def test_move_in_refuses_a_closed_household(ns):
    close(ns.spare)
    assert_refused("household_closed", move_in_call(ns))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"transfer_permit_number": " "}, "document_required", id="no-permit"),
        pytest.param({"name": " "}, "invalid_name", id="no-name"),
        pytest.param({"reason": ""}, "reason_required", id="empty-reason"),
    ],
)
def test_move_in_refuses_bad_input_and_writes_nothing(ns, overrides, code):
    assert_refused(code, move_in_call(ns, **overrides))


def test_move_in_refuses_a_future_date(ns):
    assert_refused("future_date", move_in_call(ns, on=tomorrow()))


def test_move_in_refuses_a_date_before_the_persons_birth(ns):
    assert_refused(
        "date_order",
        move_in_call(ns, citizen_id=cid(53, dt.date(2015, 6, 1)), on=dt.date(2010, 1, 1)),
    )


def test_move_in_refuses_a_return_dated_before_the_move_out(ns):
    services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    assert_refused(
        "date_order",
        move_in_call(
            ns, citizen_id=ns.son.citizen_id, relation=Relation.SON, on=dt.date(2021, 1, 1)
        ),
    )


def test_move_in_refuses_an_unknown_relation_code(ns):
    assert_refused("bad_relation", move_in_call(ns, household=ns.other, relation="ZZ"))


# -- move_within_city -------------------------------------------------------------------------


def test_move_within_the_city_closes_one_membership_and_opens_the_next(ns, officer):
    joined = services.move_within_city(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        on=LATER,
        actor=officer,
    )

    son = refetch(ns.son)
    assert (joined.household_id, joined.relation, joined.start_date, joined.end_date) == (
        ns.other.pk,
        Relation.GRANDSON,
        LATER,
        None,
    )
    assert memberships(son) == [
        (ns.home.pk, Relation.SON, JOINED, LATER),
        (ns.other.pk, Relation.GRANDSON, LATER, None),
    ]
    assert (son.hukou_region, son.status) == (ns.village2, PersonStatus.ACTIVE)
    assert son.is_registered
    assert event_of(only_event(kind=EventKind.MOVE_WITHIN)) == {
        "kind": EventKind.MOVE_WITHIN,
        "person": son.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": ns.other.pk,
        "effective_date": LATER,
        "reason": "市内迁移",
        "document_type": "",
        "document_number": "",
        "details": {},
    }


def test_the_head_may_move_once_alone(ns):
    services.move_out(
        person=ns.son, from_household=ns.home, destination="广州", on=LATER, actor=None
    )
    services.death_cancel(person=ns.wife, death_date=LATER, document_number="S1", actor=None)

    services.move_within_city(
        person=ns.head,
        from_household=ns.home,
        to_household=ns.spare,
        relation=Relation.HEAD,
        on=LATER,
        actor=None,
    )
    assert memberships(ns.head) == [
        (ns.home.pk, Relation.HEAD, JOINED, LATER),
        (ns.spare.pk, Relation.HEAD, LATER, None),
    ]


def move_call(service, ns, **overrides):
    kwargs = {
        "person": ns.son,
        "from_household": ns.home,
        "to_household": ns.other,
        "on": LATER,
        "actor": None,
    }
    if service is services.move_within_city:
        kwargs["relation"] = Relation.GRANDSON
    elif service is services.attach_to_relative:
        kwargs["relation"] = Relation.GRANDSON
        kwargs["owner_consent_document"] = "C1"
    else:
        kwargs["to_household"] = ns.unit
    kwargs.update(overrides)
    return lambda: service(**kwargs)


MOVES = [
    pytest.param(services.move_within_city, id="move_within_city"),
    pytest.param(services.attach_to_relative, id="attach_to_relative"),
    pytest.param(services.settle_into_collective, id="settle_into_collective"),
]


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_a_from_household_the_person_is_not_in(ns, service):
    assert_refused("stale_membership", move_call(service, ns, from_household=ns.spare))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_someone_not_registered(ns, service):
    assert_refused("not_registered", move_call(service, ns, person=ns.outsider))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_a_future_date(ns, service):
    assert_refused("future_date", move_call(service, ns, on=tomorrow()))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_a_date_before_the_person_joined(ns, service):
    assert_refused("date_order", move_call(service, ns, on=BEFORE_JOINING))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_the_head_leaving_others_behind(ns, service):
    assert_refused("head_must_change", move_call(service, ns, person=ns.head))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_an_empty_reason(ns, service):
    assert_refused("reason_required", move_call(service, ns, reason=" "))


@pytest.mark.parametrize("service", MOVES)
def test_moves_refuse_a_closed_target(ns, service):
    target = ns.unit if service is services.settle_into_collective else ns.spare
    # empty the target first if needed, then close it
    close(target)
    assert_refused("household_closed", move_call(service, ns, to_household=target))


def test_move_within_refuses_the_same_household(ns):
    assert_refused("same_household", move_call(services.move_within_city, ns, to_household=ns.home))


def test_move_within_refuses_a_second_head(ns):
    assert_refused("head_exists", move_call(services.move_within_city, ns, relation=Relation.HEAD))


def test_move_within_refuses_a_head_for_a_collective_household(ns):
    assert_refused(
        "bad_relation",
        move_call(services.move_within_city, ns, to_household=ns.unit, relation=Relation.HEAD),
    )


# -- attach_to_relative -------------------------------------------------------------------------


def test_attach_joins_a_relatives_household_with_the_owners_consent(ns, officer):
    joined = services.attach_to_relative(
        person=ns.son,
        from_household=ns.home,
        to_household=ns.other,
        relation=Relation.GRANDSON,
        owner_consent_document=" 同意书2021-1 ",
        on=LATER,
        actor=officer,
    )

    son = refetch(ns.son)
    assert joined.pk == Membership.objects.get(person=son, end_date__isnull=True).pk
    assert memberships(son) == [
        (ns.home.pk, Relation.SON, JOINED, LATER),
        (ns.other.pk, Relation.GRANDSON, LATER, None),
    ]
    assert son.hukou_region == ns.village2
    assert event_of(only_event(kind=EventKind.ATTACH)) == {
        "kind": EventKind.ATTACH,
        "person": son.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": ns.other.pk,
        "effective_date": LATER,
        "reason": "挂靠亲属户",
        "document_type": "户主同意证明",
        "document_number": "同意书2021-1",
        "details": {},
    }


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"owner_consent_document": ""}, "consent_required", id="no-consent"),
        pytest.param({"owner_consent_document": "  "}, "consent_required", id="blank-consent"),
        pytest.param({"to_household": N("unit")}, "bad_household_kind", id="collective"),
        pytest.param({"relation": Relation.HEAD}, "bad_relation", id="as-head"),
        pytest.param({"relation": Relation.NON_RELATIVE}, "bad_relation", id="non-relative"),
        pytest.param({"to_household": N("home")}, "same_household", id="same-household"),
    ],
)
def test_attach_refuses_bad_input_and_writes_nothing(ns, overrides, code):
    assert_refused(code, move_call(services.attach_to_relative, ns, **resolve(ns, overrides)))


# -- settle_into_collective ---------------------------------------------------------------------


def test_settling_from_a_household_into_a_collective_one(ns, officer):
    joined = services.settle_into_collective(
        person=ns.son, from_household=ns.home, to_household=ns.unit, on=LATER, actor=officer
    )

    son = refetch(ns.son)
    assert (joined.household_id, joined.relation) == (ns.unit.pk, Relation.NON_RELATIVE)
    assert memberships(son) == [
        (ns.home.pk, Relation.SON, JOINED, LATER),
        (ns.unit.pk, Relation.NON_RELATIVE, LATER, None),
    ]
    assert son.hukou_region == ns.village2
    assert event_of(only_event(kind=EventKind.COLLECTIVE)) == {
        "kind": EventKind.COLLECTIVE,
        "person": son.pk,
        "officer": officer.pk,
        "from": ns.home.pk,
        "to": ns.unit.pk,
        "effective_date": LATER,
        "reason": "集体户落户",
        "document_type": "",
        "document_number": "",
        "details": {},
    }


def test_settling_someone_not_yet_registered_into_a_collective_household(ns, officer):
    services.settle_into_collective(
        person=ns.outsider, from_household=None, to_household=ns.unit, on=LATER, actor=officer
    )

    outsider = refetch(ns.outsider)
    assert memberships(outsider) == [(ns.unit.pk, Relation.NON_RELATIVE, LATER, None)]
    assert (outsider.hukou_region, outsider.is_registered) == (ns.village2, True)
    assert event_of(only_event(kind=EventKind.COLLECTIVE)) == {
        "kind": EventKind.COLLECTIVE,
        "person": outsider.pk,
        "officer": officer.pk,
        "from": None,
        "to": ns.unit.pk,
        "effective_date": LATER,
        "reason": "集体户落户",
        "document_type": "",
        "document_number": "",
        "details": {},
    }


def settle_new(ns, **overrides):
    kwargs = {
        "person": ns.outsider,
        "from_household": None,
        "to_household": ns.unit,
        "on": LATER,
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.settle_into_collective(**kwargs)


def test_settling_refuses_a_family_household(ns):
    assert_refused("bad_household_kind", settle_new(ns, to_household=ns.spare))
    assert_refused(
        "bad_household_kind",
        move_call(services.settle_into_collective, ns, to_household=ns.other),
    )


def test_settling_without_a_from_household_refuses_someone_registered(ns):
    assert_refused("stale_membership", settle_new(ns, person=ns.son))


def test_settling_without_a_from_household_refuses_a_closed_household_a_future_date_and_no_reason(
    ns,
):
    assert_refused("future_date", settle_new(ns, on=tomorrow()))
    assert_refused("reason_required", settle_new(ns, reason=""))
    close(ns.unit)
    assert_refused("household_closed", settle_new(ns))


def test_settling_refuses_a_date_before_the_persons_birth(ns):
    assert_refused("date_order", settle_new(ns, on=dt.date(1989, 1, 1)))  # born 1990-01-01
