"""Registration events: allocating citizen IDs and registering births (出生登记), the
happy paths and the refusals.

A refusal changes nothing: the same rows (memberships, events, persons, households, history)
are in the database before and after, and the error carries a stable code.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from population import services as population_services
from population.codes import Relation
from population.errors import Conflict
from population.identity import build_citizen_id, parse_citizen_id
from population.models import CitizenIdCorrection, Person, PersonStatus, Region, RegionLevel
from registry import services
from registry.models import EventKind
from tests.registry.event_helpers import (
    assert_refused,
    cid,
    close,
    event_of,
    memberships,
    new_household,
    only_event,
    refetch,
    tomorrow,
)

pytestmark = pytest.mark.django_db


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
