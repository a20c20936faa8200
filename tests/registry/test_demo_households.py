"""The demo city's households and memberships are written by the registry, registered on
population's ``demo_household_hook``: population generates the city and holds no SQL on the
registry's tables; without the registry's writer the same persons load alone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from population import demo
from population.models import Person
from population.regions import regions_load_reference, villages_generate_demo
from registry.models import Household, Membership

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 30)


class Rollback(Exception):
    pass


def _persons() -> list[tuple]:
    return list(
        Person.objects.order_by("id").values_list(
            "id", "citizen_id", "name", "birth_date", "hukou_region_id", "residence_region_id"
        )
    )


def test_the_registry_writes_the_households_and_without_it_the_same_persons_load_alone():
    regions_load_reference()
    villages_generate_demo(city=demo.DEMO_CITY)
    assert demo.demo_household_hook.keys() == ["registry.households"]

    with pytest.raises(Rollback), transaction.atomic():
        full = demo.seed_demo_city(persons=400, seed=5, today=TODAY)
        with_households = _persons()
        assert full.persons == 400
        assert 0 < full.households == Household.objects.count()
        assert full.memberships == Membership.objects.count() > full.households
        # Every registered person (not the migrants without a hukou here) is a member.
        assert full.memberships == Person.objects.filter(hukou_region__isnull=False).count()
        raise Rollback

    writer = demo.demo_household_hook.get("registry.households")
    demo.demo_household_hook.unregister("registry.households")
    try:
        alone = demo.seed_demo_city(persons=400, seed=5, today=TODAY)
    finally:
        demo.demo_household_hook.register(writer)
    assert (alone.persons, alone.households, alone.memberships) == (400, 0, 0)
    assert not Household.objects.exists() and not Membership.objects.exists()
    assert _persons() == with_households
