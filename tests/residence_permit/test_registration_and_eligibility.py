"""Residence registration (居住登记) and permit eligibility, boundaries included."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection
from hypothesis import given
from hypothesis import strategies as st

from population.errors import DomainError
from population.models import Person
from residence_permit import rules, selectors, services
from residence_permit.models import (
    PermitApplication,
    PersonFact,
    PersonFactKind,
    ResidenceBasis,
    ResidenceRegistration,
)

pytestmark = pytest.mark.django_db


def codes(eligibility) -> dict[str, str]:
    return {c.code: c.status for c in eligibility.conditions}


def test_registration_sets_the_actual_residence_region(make_person, village):
    person = make_person()
    reg = services.residence_registration_create(
        person=person,
        address="  凤城路1号 ",
        region=village,
        basis=ResidenceBasis.HOME,
        start_date=dt.date(2024, 1, 1),
        actor=None,
    )
    person.refresh_from_db()
    assert (reg.address, reg.end_date, person.residence_region_id) == (
        "凤城路1号",
        None,
        "441802006001",
    )


def test_a_local_living_in_another_district_registers_and_may_apply(
    make_person, village, other_village
):
    local = make_person(hukou_region=village)
    services.residence_registration_create(
        person=local,
        address="太和镇新街2号",
        region=other_village,
        basis=ResidenceBasis.JOB,
        start_date=dt.date(2024, 1, 1),
        actor=None,
    )
    services.person_fact_record(
        person=local,
        kind=PersonFactKind.EMPLOYMENT,
        start_date=dt.date(2024, 1, 1),
        evidence="劳动合同 A1",
        actor=None,
    )
    local.refresh_from_db()
    assert (local.hukou_region_id, local.residence_region_id) == (
        "441802006001",
        "441803100001",
    )
    result = selectors.permit_eligibility(person=local, on=dt.date(2024, 7, 1))
    assert result.eligible is True
    assert codes(result)["away_from_hukou"] == "met"


def test_a_local_registered_in_their_own_county_is_not_eligible(make_person, village):
    township = village.parent
    from population.models import Region, RegionLevel

    neighbour = Region.objects.create(
        code="441802006002", name="凤城街道第二社区", level=RegionLevel.VILLAGE, parent=township
    )
    local = make_person(hukou_region=village)
    services.residence_registration_create(
        person=local,
        address="凤城路9号",
        region=neighbour,
        basis=ResidenceBasis.HOME,
        start_date=dt.date(2024, 1, 1),
        actor=None,
    )
    result = selectors.permit_eligibility(person=local, on=dt.date(2025, 1, 1))
    assert codes(result)["away_from_hukou"] == "unmet"
    assert result.eligible is False


@pytest.mark.parametrize(
    ("since", "on", "met"),
    [
        (dt.date(2024, 1, 31), dt.date(2024, 7, 31), True),  # exactly six months
        (dt.date(2024, 1, 31), dt.date(2024, 7, 30), False),  # one day short
        (dt.date(2023, 8, 31), dt.date(2024, 2, 29), True),  # 31 Aug + 6 months = 29 Feb
        (dt.date(2023, 8, 31), dt.date(2024, 2, 28), False),
        (dt.date(2024, 2, 29), dt.date(2024, 8, 29), True),
        (dt.date(2024, 2, 29), dt.date(2024, 8, 28), False),
    ],
)
def test_six_months_of_registered_residence_boundaries(resident, since, on, met):
    person = resident(since=since)
    result = selectors.permit_eligibility(person=person, on=on)
    assert codes(result)["residence_six_months"] == ("met" if met else "unmet")
    assert result.eligible is met


def test_eligibility_shows_each_basis_with_its_evidence(resident):
    person = resident(since=dt.date(2024, 1, 1))
    result = selectors.permit_eligibility(person=person, on=dt.date(2024, 8, 1))
    by_code = {c.code: c for c in result.conditions}
    assert by_code["stable_employment"].status == "met"
    assert by_code["stable_employment"].evidence == [
        "劳动合同 HT-001（清城区人社局，2024-01-01至今）"
    ]
    assert (by_code["stable_residence"].status, by_code["continuous_study"].status) == (
        "missing_evidence",
        "missing_evidence",
    )
    assert by_code["one_basis"].status == "met"


def test_an_ended_job_is_unmet_and_no_basis_makes_the_person_ineligible(resident):
    person = resident(since=dt.date(2024, 1, 1), employed=False)
    services.person_fact_record(
        person=person,
        kind=PersonFactKind.EMPLOYMENT,
        start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2024, 5, 31),
        evidence="劳动合同 HT-9",
        actor=None,
    )
    result = selectors.permit_eligibility(person=person, on=dt.date(2024, 8, 1))
    assert codes(result)["stable_employment"] == "unmet"
    assert codes(result)["one_basis"] == "unmet"
    assert result.eligible is False


def test_a_child_qualifies_through_the_parent_at_the_same_address_with_a_proxy(resident):
    parent = resident(since=dt.date(2023, 1, 1))
    child = resident(since=dt.date(2024, 1, 1), employed=False, born=dt.date(2015, 6, 1))
    on = dt.date(2024, 8, 1)

    alone = selectors.permit_eligibility(person=child, on=on)
    with_parent = selectors.permit_eligibility(person=child, on=on, sponsor=parent)
    complete = selectors.permit_eligibility(person=child, on=on, sponsor=parent, proxy=parent)

    assert (alone.eligible, codes(alone)["one_basis"], codes(alone)["proxy"]) == (
        False,
        "unmet",
        "missing_evidence",
    )
    assert codes(with_parent)["sponsor_stable_employment"] == "met"
    assert (with_parent.eligible, codes(with_parent)["proxy"]) == (False, "missing_evidence")
    assert complete.eligible is True


def test_a_sponsor_at_another_address_does_not_help(resident):
    parent = resident(since=dt.date(2023, 1, 1), address="凤城路2号")
    child = resident(since=dt.date(2024, 1, 1), employed=False, born=dt.date(2015, 6, 1))
    result = selectors.permit_eligibility(
        person=child, on=dt.date(2024, 8, 1), sponsor=parent, proxy=parent
    )
    assert codes(result)["lives_with_sponsor"] == "unmet"
    assert result.eligible is False


# -- bad input ---------------------------------------------------------------------------------


def snapshot() -> tuple:
    return (
        ResidenceRegistration.objects.count(),
        PermitApplication.objects.count(),
        PersonFact.objects.count(),
        list(Person.objects.order_by("pk").values_list("residence_region_id", flat=True)),
    )


def test_overlapping_registrations_are_refused_and_change_nothing(make_person, village):
    person = make_person()
    first = services.residence_registration_create(
        person=person,
        address="凤城路1号",
        region=village,
        basis=ResidenceBasis.JOB,
        start_date=dt.date(2024, 1, 1),
        actor=None,
    )
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.residence_registration_create(
            person=person,
            address="凤城路3号",
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=dt.date(2024, 6, 1),
            actor=None,
        )
    assert exc.value.code == "registration_open"
    services.residence_registration_end(
        registration=first, end_date=dt.date(2024, 6, 30), actor=None, reason="搬离"
    )
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.residence_registration_create(
            person=person,
            address="凤城路3号",
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=dt.date(2024, 6, 30),  # the last day of the first one
            actor=None,
        )
    assert exc.value.code == "registration_overlap"
    assert snapshot() == before


def test_the_database_refuses_overlaps_written_with_raw_sql(make_person, village):
    person = make_person()
    services.residence_registration_create(
        person=person,
        address="凤城路1号",
        region=village,
        basis=ResidenceBasis.JOB,
        start_date=dt.date(2024, 1, 1),
        actor=None,
    )
    with pytest.raises(IntegrityError, match="resreg_no_overlap"):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO residence_permit_residenceregistration"
                " (person_id, address, region_id, basis, start_date, created_at)"
                " VALUES (%s, 'x', %s, 'job', '2025-01-01', now())",
                [person.pk, village.pk],
            )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"address": " "}, "address_required"),
        ({"basis": "holiday"}, "bad_basis"),
        ({"start_date": dt.date(2099, 1, 1)}, "future_date"),
        ({"start_date": dt.date(1980, 1, 1)}, "date_order"),  # before birth
    ],
)
def test_bad_registration_input_is_refused(make_person, village, kwargs, code):
    person = make_person()
    args = {
        "person": person,
        "address": "凤城路1号",
        "region": village,
        "basis": ResidenceBasis.JOB,
        "start_date": dt.date(2024, 1, 1),
        "actor": None,
    } | kwargs
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.residence_registration_create(**args)
    assert exc.value.code == code
    assert snapshot() == before


def test_registering_at_ones_own_hukou_address_is_refused(make_person, village):
    person = make_person(hukou_region=village)
    with pytest.raises(DomainError) as exc:
        services.residence_registration_create(
            person=person,
            address="凤城路1号",
            region=village,
            basis=ResidenceBasis.HOME,
            start_date=dt.date(2024, 1, 1),
            actor=None,
        )
    assert exc.value.code == "at_hukou_address"


def test_an_unknown_person_is_refused(village):
    ghost = Person(pk=999_999, citizen_id="441802199001010011", name="无此人")
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.residence_registration_create(
            person=ghost,
            address="凤城路1号",
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=dt.date(2024, 1, 1),
            actor=None,
        )
    assert exc.value.code == "unknown_person"
    with pytest.raises(DomainError) as exc:
        services.permit_cancel_on_settlement(person=ghost, actor=None)
    assert exc.value.code == "unknown_person"
    assert snapshot() == before


def test_a_fact_without_evidence_is_refused_by_the_service_and_the_database(make_person):
    person = make_person()
    before = snapshot()
    with pytest.raises(DomainError) as exc:
        services.person_fact_record(
            person=person,
            kind=PersonFactKind.EMPLOYMENT,
            start_date=dt.date(2024, 1, 1),
            evidence="  ",
            actor=None,
        )
    assert exc.value.code == "evidence_required"
    assert snapshot() == before
    with pytest.raises(IntegrityError, match="fact_evidence_required"):
        PersonFact.objects.create(
            person=person,
            kind=PersonFactKind.EMPLOYMENT,
            start_date=dt.date(2024, 1, 1),
            evidence="",
            source="officer",
            source_name="窗口",
        )


@given(
    day=st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 12, 31)),
    months=st.integers(min_value=0, max_value=600),
)
def test_adding_months_clamps_to_the_month_end_and_never_overshoots(day, months):
    result = rules.add_months(day, months)
    assert (result.year - day.year) * 12 + result.month - day.month == months
    assert result.day == day.day or (
        result.day < day.day and (result + dt.timedelta(days=1)).day == 1
    )
    assert rules.whole_months_between(day, result) == months


@given(
    county=st.sampled_from(["441802", "440106", "530902"]),
    year=st.integers(min_value=2016, max_value=2099),
    serial=st.integers(min_value=1, max_value=999_999),
    position=st.integers(min_value=0, max_value=15),
    delta=st.integers(min_value=1, max_value=9),
)
def test_the_check_character_catches_every_single_digit_error(
    county, year, serial, position, delta
):
    number = rules.permit_number_format(county, year, serial)
    assert rules.permit_number_is_valid(number)
    wrong = str((int(number[position]) + delta) % 10)
    assert not rules.permit_number_is_valid(number[:position] + wrong + number[position + 1 :])


@pytest.mark.parametrize(
    ("born", "on", "needs_proxy"),
    [
        (dt.date(2008, 2, 29), dt.date(2024, 2, 28), True),  # 15 the day before
        (dt.date(2008, 2, 29), dt.date(2024, 2, 29), False),  # 16 on the birthday
        (dt.date(2007, 2, 28), dt.date(2023, 2, 27), True),
        (dt.date(2007, 2, 28), dt.date(2023, 2, 28), False),
    ],
)
def test_under_sixteen_needs_a_proxy_boundaries(resident, born, on, needs_proxy):
    person = resident(since=dt.date(2022, 1, 1), born=born)
    result = selectors.permit_eligibility(person=person, on=on)
    assert ("proxy" in codes(result)) is needs_proxy
    assert result.eligible is not needs_proxy


def test_born_on_29_february_turns_a_year_older_on_1_march_in_common_years():
    born = dt.date(2008, 2, 29)
    assert [rules.age_on(born, d) for d in (dt.date(2025, 2, 28), dt.date(2025, 3, 1))] == [16, 17]
