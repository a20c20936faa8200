"""Snapshots equal a from-scratch recount after any sequence of registration events.

Random sequences of births, deaths, moves in, out and within the city, settlements into
collective households and residence changes run through the services; then the snapshot taken by
the SQL pass is compared cell by cell with the independent per-person recount, and the balance
of the month closes with no unexplained change.
"""

from __future__ import annotations

import collections
import itertools

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from population import services as population_services
from population.codes import Relation
from population.errors import DomainError
from population.identity import build_citizen_id
from population.models import Person, PersonStatus
from population.statistics.balance import balance_compute
from population.statistics.models import StatSnapshot
from population.statistics.services import snapshot_recount_check, snapshot_take
from registry import services
from registry.models import HouseholdKind

from .conftest import V1, V2, V3, V4

pytestmark = pytest.mark.django_db

OPS = ("birth", "death", "move_in", "move_out", "move_within", "collective", "residence")
_sequence = itertools.count(1)
DONE: collections.Counter = collections.Counter()  # steps that went through, per kind


def _run(op: str, a: int, b: int, households, regions) -> None:
    today = timezone.localdate()
    registered = list(
        Person.objects.filter(status=PersonStatus.ACTIVE, hukou_region__isnull=False).order_by("pk")
    )
    everyone = list(Person.objects.filter(status=PersonStatus.ACTIVE).order_by("pk"))
    family = [h for h in households if h.kind == HouseholdKind.FAMILY]
    if op == "birth":
        services.birth_register(
            household=family[a % len(family)],
            name="新生",
            sex=1 + b % 2,
            birth_date=today,
            relation=Relation.SON,
            birth_certificate_number=f"B{a}{b}",
            actor=None,
        )
    elif op == "move_in":
        services.move_in(
            citizen_id=build_citizen_id(
                "441802", today.replace(year=today.year - 30), next(_sequence) * 2 + b % 2
            ),
            name="迁入",
            household=family[a % len(family)],
            relation=Relation.OTHER,
            transfer_permit_number=f"T{a}{b}",
            on=today,
            actor=None,
        )
    elif op == "residence" and everyone:
        person = everyone[a % len(everyone)]
        place = [None, *regions][b % (len(regions) + 1)]
        population_services.person_update(
            person=person, actor=None, reason="居住登记", residence_region=place
        )
    elif registered:
        person = registered[a % len(registered)]
        membership = person.memberships.get(end_date__isnull=True)
        if op == "death":
            services.death_cancel(
                person=person, death_date=today, document_number=f"D{a}", actor=None
            )
        elif op == "move_out":
            services.move_out(
                person=person,
                from_household=membership.household,
                destination="外省",
                on=today,
                actor=None,
            )
        elif op == "move_within":
            services.move_within_city(
                person=person,
                from_household=membership.household,
                to_household=households[b % len(households)],
                relation=Relation.OTHER,
                on=today,
                actor=None,
            )
        elif op == "collective":
            collective = [h for h in households if h.kind != HouseholdKind.FAMILY]
            services.settle_into_collective(
                person=person,
                from_household=membership.household,
                to_household=collective[b % len(collective)],
                on=today,
                actor=None,
            )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)),
        min_size=1,
        max_size=12,
    )
)
def test_snapshot_equals_recount_after_random_events(small_city_regions, steps):
    regions = [small_city_regions[code] for code in (V1, V2, V3, V4)]
    month = timezone.localdate().strftime("%Y-%m")
    with transaction.atomic():
        households = [
            services.household_create(
                kind=HouseholdKind.FAMILY, address="一号", region=regions[0], actor=None
            ),
            services.household_create(
                kind=HouseholdKind.FAMILY, address="二号", region=regions[2], actor=None
            ),
            services.household_create(
                kind=HouseholdKind.FAMILY, address="三号", region=regions[3], actor=None
            ),
            services.household_create(
                kind=HouseholdKind.UNIT_COLLECTIVE, address="厂", region=regions[1], actor=None
            ),
            services.household_create(
                kind=HouseholdKind.TALENT_COLLECTIVE, address="人才", region=regions[3], actor=None
            ),
        ]
        for op, a, b in steps:
            try:
                with transaction.atomic():
                    _run(op, a, b, households, regions)
                    DONE[op] += 1
            except DomainError:
                pass  # a refused step (same household, head leaving...) changes nothing
        snapshot_take(month=month)
        assert snapshot_recount_check(month=month) == []
        if StatSnapshot.objects.filter(month__month=timezone.localdate().month).exists():
            balance = balance_compute(region_code="441800000000", month=month)
            assert balance["imbalance"] == 0, balance
        else:  # nobody in the city at all: no snapshot row, and nobody registered or resident
            placed = Person.objects.filter(status=PersonStatus.ACTIVE).exclude(
                hukou_region__isnull=True, residence_region__isnull=True
            )
            assert not placed.exists()
        transaction.set_rollback(True)


def test_a_fixed_sequence_runs_every_kind_of_step(small_city_regions):
    """The steps above are not all refusals: each kind goes through in this sequence."""
    DONE.clear()
    steps = [
        ("move_in", 0, 0),
        ("move_in", 1, 1),
        ("move_in", 2, 0),
        ("birth", 0, 1),
        ("residence", 1, 3),
        ("move_within", 1, 0),
        ("collective", 2, 0),
        ("death", 0, 0),
        ("move_out", 0, 0),
    ]
    test_snapshot_equals_recount_after_random_events.hypothesis.inner_test(
        small_city_regions=small_city_regions, steps=steps
    )
    assert set(DONE) == set(OPS), DONE
