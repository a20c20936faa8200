"""A number that is current, former, unknown or out of the caller's scope takes the same path:
one query, so the time of the answer does not tell whether the number exists."""

from __future__ import annotations

import datetime as dt

import pytest

from population import services
from population.identity import build_citizen_id
from population.selectors import person_get_by_citizen_id
from population.sharing.selectors import person_get_for_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def corrected(make_person, village):
    person = make_person(hukou_region=village)
    former = person.citizen_id
    services.person_correct_citizen_id(
        person=person,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 401),
        actor=None,
        reason="重号更正",
    )
    person.refresh_from_db()
    return person, former


UNKNOWN = build_citizen_id("441802", dt.date(1990, 1, 1), 499)


def test_current_former_and_unknown_numbers_are_one_query_each(
    corrected, django_assert_num_queries
):
    person, former = corrected
    for number, expected in [(person.citizen_id, person), (former, person), (UNKNOWN, None)]:
        with django_assert_num_queries(1):
            found = person_get_by_citizen_id(citizen_id=number)
        assert found == expected
        if found is not None:  # regions come with the person: no further query
            with django_assert_num_queries(0):
                assert found.hukou_region.code == person.hukou_region_id


def test_a_current_number_wins_over_a_former_one_someone_else_had(corrected, make_person, village):
    _person, former = corrected
    from population.models import Person

    # A legacy row holding the former number as its current one (a duplicate not yet merged).
    born = dt.date(1990, 1, 1)
    holder = Person.objects.create(citizen_id=former, name="旧号", sex=1, birth_date=born)
    assert person_get_by_citizen_id(citizen_id=former) == holder


def test_out_of_scope_and_missing_take_the_same_path_on_the_api(
    corrected, make_client, django_assert_num_queries
):
    person, _former = corrected
    client, _key = make_client(region_prefixes=["441881"])  # the person lives in 441802
    for number in (person.citizen_id, UNKNOWN):
        with django_assert_num_queries(1):
            assert person_get_for_client(client=client, citizen_id=number) is None
