"""Registration events (户籍登记事项): every service, its happy path and its refusals.

A refusal changes nothing: the same rows (memberships, events, persons, households, history)
are in the database before and after, and the error carries a stable code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.db import (
    DatabaseError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from population import services as population_services
from population.codes import Relation
from population.errors import Conflict, DomainError
from population.identity import build_citizen_id, parse_citizen_id
from population.models import CitizenIdCorrection, Person, PersonStatus, Region, RegionLevel
from registry import services
from registry.models import EventKind, Household, HouseholdKind, Membership, RegistrationEvent
from registry.services import _common as services_common
from registry.services import households as household_services
from tests.dburl import both_layers_refuse

pytestmark = pytest.mark.django_db

JOINED = dt.date(2020, 1, 1)  # every fixture member joined on this date
LATER = dt.date(2021, 3, 15)
BEFORE_JOINING = dt.date(2019, 12, 31)
CONFLICT_CODES = frozenset(
    {
        "person_inactive",
        "household_closed",
        "not_registered",
        "stale_membership",
        "head_exists",
        "conflict",
        "sequence_exhausted",
    }
)
PERMIT = re.compile(r"^QC\d{4}\d{8}$")


def tomorrow() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=1)


def cid(seq: int, born: dt.date = dt.date(1990, 1, 1)) -> str:
    return build_citizen_id("441802", born, seq)


# -- state and assertions ---------------------------------------------------------------------


def state() -> dict:
    """Everything a registration event may touch, as plain values."""
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (Membership, RegistrationEvent, Person, Household)
        },
        "memberships": list(Membership.objects.order_by("pk").values()),
        "events": list(RegistrationEvent.objects.order_by("pk").values()),
        "persons": list(Person.objects.order_by("pk").values()),
        "households": list(Household.objects.order_by("pk").values()),
        "corrections": CitizenIdCorrection.objects.count(),
        "history": {
            model.__name__: model.pgh_event_model.objects.count()
            for model in (Membership, Household, Person)
        },
    }


def assert_refused(code: str, call: Callable[[], object]) -> DomainError:
    """The call is refused with ``code`` and leaves every row as it was."""
    before = state()
    with pytest.raises(DomainError) as excinfo:
        call()
    error = excinfo.value
    assert (error.code, type(error)) == (code, Conflict if code in CONFLICT_CODES else DomainError)
    assert error.message_zh and error.message_en
    assert state() == before
    return error


def memberships(person: Person) -> list[tuple]:
    return list(
        Membership.objects.filter(person=person)
        .order_by("pk")
        .values_list("household_id", "relation", "start_date", "end_date")
    )


def event_of(event: RegistrationEvent) -> dict:
    return {
        "kind": event.kind,
        "person": event.person_id,
        "officer": event.officer_id,
        "from": event.from_household_id,
        "to": event.to_household_id,
        "effective_date": event.effective_date,
        "reason": event.reason,
        "document_type": event.document_type,
        "document_number": event.document_number,
        "details": event.details,
    }


def only_event(**filters) -> RegistrationEvent:
    return RegistrationEvent.objects.get(**filters)


# -- fixtures -----------------------------------------------------------------------------------


def new_household(region: Region, kind: str = HouseholdKind.FAMILY, address: str = "凤城路1号"):
    return services.household_create(kind=kind, address=address, region=region, actor=None)


def move_in(household: Household, citizen_id: str, relation: str, name: str = "某人", **kw):
    kw.setdefault("on", JOINED)
    return services.move_in(
        citizen_id=citizen_id,
        name=name,
        household=household,
        relation=relation,
        transfer_permit_number="T1",
        actor=None,
        **kw,
    )


class N(str):
    """A parametrize placeholder for a fixture object: ``N("home")`` is ``ns.home``."""


def resolve(ns, overrides: dict) -> dict:
    return {k: getattr(ns, v) if isinstance(v, N) else v for k, v in overrides.items()}


def refetch(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def officer(django_user_model, city, assign_area):
    user = django_user_model.objects.create_user("officer", password="x-Strong-pass-1")
    return assign_area(user, city)


@pytest.fixture
def village2(village):
    return Region.objects.create(
        code="441802006002",
        name="凤城街道第二社区",
        level=RegionLevel.VILLAGE,
        parent=village.parent,
        is_synthetic=True,
    )


@pytest.fixture
def ns(village, village2):
    """A family of three in ``village``; another family, an empty one and a unit collective
    household in ``village2``; and an outsider recorded but not registered in the city."""
    home = new_household(village, address="凤城路1号")
    head = move_in(home, cid(11), Relation.HEAD, "王大")
    wife = move_in(home, cid(12), Relation.WIFE, "李梅")
    son = move_in(home, cid(13, dt.date(2012, 5, 6)), Relation.SON, "王小")
    other = new_household(village2, address="清远大道2号")
    other_head = move_in(other, cid(21), Relation.HEAD, "陈二")
    spare = new_household(village2, address="清远大道3号")
    unit = new_household(village2, HouseholdKind.UNIT_COLLECTIVE, "清远大道4号")
    outsider = population_services.person_create(
        citizen_id=cid(31), name="赵外", actor=None, reason="测试"
    )
    return SimpleNamespace(
        village=village,
        village2=village2,
        home=home,
        head=head,
        wife=wife,
        son=son,
        other=other,
        other_head=other_head,
        spare=spare,
        unit=unit,
        outsider=outsider,
    )


def close(household: Household) -> Household:
    return services.household_close(household=household, on=LATER, actor=None, reason="销户")


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


# -- citizen_id_allocate ------------------------------------------------------------------------


def test_allocation_gives_the_lowest_free_sequence_of_the_right_parity():
    born = dt.date(2021, 6, 1)
    boy = services.citizen_id_allocate(address_code="441802", birth_date=born, sex=1)
    girl = services.citizen_id_allocate(address_code="441802", birth_date=born, sex=2)
    assert boy == build_citizen_id("441802", born, 1)
    assert girl == build_citizen_id("441802", born, 0)


def test_allocation_skips_numbers_taken_and_numbers_retired_by_a_correction():
    # given the first boy's number held by a person, and the second retired by a correction
    born = dt.date(2021, 6, 2)
    first, second, third = (build_citizen_id("441802", born, s) for s in (1, 3, 5))
    population_services.person_create(citizen_id=first, name="甲", actor=None, reason="测试")
    corrected = population_services.person_create(
        citizen_id=second, name="乙", actor=None, reason="测试"
    )
    population_services.person_correct_citizen_id(
        person=corrected, new_citizen_id=cid(41), actor=None, reason="重号更正"
    )
    assert CitizenIdCorrection.objects.get().old_citizen_id == second
    assert not Person.objects.filter(citizen_id=second).exists()

    # when a number is allocated, then the third candidate is given
    assert services.citizen_id_allocate(address_code="441802", birth_date=born, sex=1) == third


def test_allocation_refuses_when_every_sequence_of_that_parity_is_taken():
    born = dt.date(2021, 6, 3)
    Person.objects.bulk_create(
        Person(citizen_id=build_citizen_id("441802", born, s), name="满", sex=1, birth_date=born)
        for s in range(1, 1000, 2)
    )
    before = Person.objects.count()
    with pytest.raises(Conflict) as excinfo:
        services.citizen_id_allocate(address_code="441802", birth_date=born, sex=1)
    assert excinfo.value.code == "sequence_exhausted"
    assert Person.objects.count() == before == 500
    # the other parity is untouched
    girl = services.citizen_id_allocate(address_code="441802", birth_date=born, sex=2)
    assert girl == build_citizen_id("441802", born, 0)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 12, 31)),
    sex=st.sampled_from([1, 2]),
    address_code=st.sampled_from(["441802", "441881", "110101"]),
)
def test_every_allocated_number_is_valid_and_agrees_with_place_date_and_sex(
    born, sex, address_code
):
    number = services.citizen_id_allocate(address_code=address_code, birth_date=born, sex=sex)
    parsed = parse_citizen_id(number)
    assert (parsed.address_code, parsed.birth_date, parsed.sex) == (address_code, born, sex)
    assert int(parsed.sequence) % 2 == (1 if sex == 1 else 0)


# -- birth_register ---------------------------------------------------------------------------


def test_birth_registers_a_boy_with_a_new_id_into_the_household(ns, officer):
    born = dt.date(2021, 7, 8)

    # when a boy is registered into the family
    baby = services.birth_register(
        household=ns.home,
        name=" 王宝 ",
        sex=1,
        birth_date=born,
        relation=Relation.SON,
        birth_certificate_number=" Q441234567 ",
        actor=officer,
    )

    # then he has a valid new ID: county code, birth date, an odd sequence, the check digit
    baby = refetch(baby)
    assert baby.citizen_id == build_citizen_id("441802", born, 1)
    parsed = parse_citizen_id(baby.citizen_id)
    assert (parsed.address_code, parsed.birth_date, parsed.sex, parsed.sequence) == (
        "441802",
        born,
        1,
        "001",
    )
    assert (baby.name, baby.sex, baby.birth_date, baby.ethnicity, baby.status) == (
        "王宝",
        1,
        born,
        "01",
        PersonStatus.ACTIVE,
    )
    assert (baby.hukou_region, baby.residence_region) == (ns.village, ns.village)
    assert baby.is_registered
    assert memberships(baby) == [(ns.home.pk, Relation.SON, born, None)]
    assert event_of(only_event(person=baby)) == {
        "kind": EventKind.BIRTH,
        "person": baby.pk,
        "officer": officer.pk,
        "from": None,
        "to": ns.home.pk,
        "effective_date": born,
        "reason": "出生登记",
        "document_type": "出生医学证明",
        "document_number": "Q441234567",
        "details": {},
    }


def test_birth_of_a_girl_gets_an_even_sequence(ns):
    born = dt.date(2021, 7, 9)
    baby = services.birth_register(
        household=ns.home,
        name="王妹",
        sex=2,
        birth_date=born,
        relation=Relation.DAUGHTER,
        birth_certificate_number="Q2",
        actor=None,
    )
    parsed = parse_citizen_id(refetch(baby).citizen_id)
    assert (parsed.sex, parsed.sequence, parsed.birth_date) == (2, "000", born)
    assert refetch(baby).sex == 2
    assert only_event(person=baby).officer is None


def test_birth_uses_the_county_code_of_the_household_region(village):
    # given a household in a village of another county (英德市 441881)
    elsewhere = Region.objects.create(
        code="441881101001", name="英德某村", level=RegionLevel.VILLAGE
    )
    household = new_household(elsewhere, address="英德路1号")
    born = dt.date(2021, 8, 1)

    baby = services.birth_register(
        household=household,
        name="刘一",
        sex=1,
        birth_date=born,
        relation=Relation.HEAD,  # a newborn may head an empty household
        birth_certificate_number="Q3",
        actor=None,
    )

    assert refetch(baby).citizen_id == build_citizen_id("441881", born, 1)
    assert refetch(baby).hukou_region == elsewhere
    assert memberships(baby) == [(household.pk, Relation.HEAD, born, None)]


def test_birth_skips_numbers_taken_and_numbers_retired_by_a_correction(ns):
    born = dt.date(2021, 9, 1)
    first, second, third = (build_citizen_id("441802", born, s) for s in (1, 3, 5))
    population_services.person_create(citizen_id=first, name="甲", actor=None, reason="测试")
    corrected = population_services.person_create(
        citizen_id=second, name="乙", actor=None, reason="测试"
    )
    population_services.person_correct_citizen_id(
        person=corrected, new_citizen_id=cid(43), actor=None, reason="重号更正"
    )

    baby = services.birth_register(
        household=ns.home,
        name="王三",
        sex=1,
        birth_date=born,
        relation=Relation.SON,
        birth_certificate_number="Q4",
        actor=None,
    )

    assert refetch(baby).citizen_id == third


def birth(ns, **overrides):
    kwargs = {
        "household": ns.home,
        "name": "王宝",
        "sex": 1,
        "birth_date": dt.date(2021, 7, 8),
        "relation": Relation.SON,
        "birth_certificate_number": "Q1",
        "actor": None,
    }
    kwargs.update(overrides)
    return lambda: services.birth_register(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"birth_certificate_number": "  "}, "document_required", id="no-certificate"),
        pytest.param({"birth_certificate_number": ""}, "document_required", id="empty-cert"),
        pytest.param({"sex": 3}, "bad_sex", id="bad-sex"),
        pytest.param({"name": "  "}, "invalid_name", id="empty-name"),
        pytest.param({"relation": Relation.HEAD}, "bad_relation", id="head-of-a-full-household"),
        pytest.param({"reason": ""}, "reason_required", id="empty-reason"),
        pytest.param({"reason": "  "}, "reason_required", id="blank-reason"),
    ],
)
def test_birth_refuses_bad_input_and_writes_nothing(ns, overrides, code):
    assert_refused(code, birth(ns, **overrides))


def test_birth_refuses_a_future_birth_date(ns):
    assert_refused("future_date", birth(ns, birth_date=tomorrow()))


def test_birth_refuses_a_closed_household(ns):
    close(ns.spare)
    assert_refused("household_closed", birth(ns, household=ns.spare))


def test_birth_refuses_a_head_for_a_collective_household(ns):
    assert_refused("bad_relation", birth(ns, household=ns.unit, relation=Relation.HEAD))


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


# -- the database triggers ----------------------------------------------------------------------


def _insert_open_membership(person_id: int, household_id: int, relation: str) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO registry_membership (person_id, household_id, relation, start_date)"
            " VALUES (%s, %s, %s, %s)",
            [person_id, household_id, relation, LATER],
        )


def test_the_database_refuses_an_open_membership_for_a_deceased_person(ns):
    services.death_cancel(person=ns.son, death_date=LATER, document_number="S1", actor=None)
    before = state()
    with pytest.raises(DatabaseError, match="deceased or cancelled"), transaction.atomic():
        _insert_open_membership(ns.son.pk, ns.spare.pk, Relation.HEAD)
    assert state() == before


def test_the_database_refuses_an_open_membership_in_a_closed_household(ns):
    close(ns.spare)
    before = state()
    with pytest.raises(DatabaseError, match="is closed"), transaction.atomic():
        _insert_open_membership(ns.outsider.pk, ns.spare.pk, Relation.HEAD)
    assert state() == before


def test_the_database_refuses_a_relation_outside_gbt_4761(ns):
    before = state()
    with pytest.raises(DatabaseError, match="membership_relation_gbt4761"), transaction.atomic():
        _insert_open_membership(ns.outsider.pk, ns.spare.pk, "ZZ")
    assert state() == before


def test_the_database_refuses_an_unknown_household_kind(ns):
    before = state()
    with pytest.raises(DatabaseError, match="household_kind_known"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("UPDATE registry_household SET kind = 'bogus' WHERE id = %s", [ns.spare.pk])
    assert state() == before


@both_layers_refuse(r"append_only|Cannot update or delete")
def test_registration_events_are_append_only(ns, refusal):
    before = state()
    for sql in [
        "UPDATE registry_registrationevent SET reason = 'x'",
        "DELETE FROM registry_registrationevent",
    ]:
        with pytest.raises(DatabaseError, match=refusal):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
    assert state() == before


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
