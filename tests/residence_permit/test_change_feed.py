"""Permit events reach the department change feed; the valid-permit fact answers yes or no."""

from __future__ import annotations

import datetime as dt

import pytest

from population.errors import DomainError
from population.models import ChangeEvent
from population.sharing.facts import derived_fact_hook
from residence_permit import services

pytestmark = pytest.mark.django_db


def feed(person) -> list[tuple[str, str]]:
    return list(
        ChangeEvent.objects.filter(person=person).order_by("id").values_list("kind", "source")
    )


def test_issue_endorsement_and_cancellation_are_in_the_feed_in_order(holder):
    permit = holder(issued=dt.date(2024, 2, 29))
    services.permit_endorse(permit=permit, actor=None, on=dt.date(2025, 2, 20))
    services.permit_cancel_on_leaving(permit=permit, actor=None, on=dt.date(2025, 3, 1))

    kinds = [kind for kind, _ in feed(permit.person)]
    assert kinds == ["permit_issued", "permit_endorsed", "permit_ended"]
    assert all(source.startswith("residence_permit.") for _, source in feed(permit.person))
    assert all(
        permit.region_id in regions
        for regions in ChangeEvent.objects.filter(person=permit.person).values_list(
            "regions", flat=True
        )
    )


def test_a_refused_endorsement_adds_nothing_to_the_feed(holder):
    permit = holder(issued=dt.date(2024, 2, 29))
    before = feed(permit.person)
    with pytest.raises(DomainError):  # before the endorsement window
        services.permit_endorse(permit=permit, actor=None, on=dt.date(2024, 3, 5))
    assert feed(permit.person) == before


def test_the_valid_permit_fact_follows_the_permit(holder, make_person):
    fact = derived_fact_hook.get("valid_residence_permit")
    permit = holder(issued=dt.date(2024, 2, 29))
    assert fact.evaluate(permit.person, {}) is True
    assert fact.evaluate(make_person(name="无证"), {}) is False
    services.permit_cancel_on_leaving(permit=permit, actor=None, on=dt.date(2025, 3, 1))
    assert fact.evaluate(permit.person, {}) is False


def test_the_statistics_figures_count_permits_by_month_and_area(holder):
    from population.statistics.extra import extra_figures
    from residence_permit.selectors import permits_active_at, permits_issued_in_month

    permit = holder(issued=dt.date(2024, 2, 29))
    services.permit_cancel_on_leaving(permit=permit, actor=None, on=dt.date(2025, 3, 1))
    city, elsewhere = "441800000000", "530900000000"

    assert permits_issued_in_month(city, dt.date(2024, 2, 29)) == 1
    assert permits_issued_in_month(city, dt.date(2024, 3, 31)) == 0
    assert permits_issued_in_month(elsewhere, dt.date(2024, 2, 29)) == 0
    assert permits_active_at(city, dt.date(2024, 1, 31)) == 0
    assert permits_active_at(city, dt.date(2025, 2, 28)) == 1
    assert permits_active_at(city, dt.date(2025, 3, 31)) == 0
    shown = {f["name"]: f for f in extra_figures(region_code=city, month=dt.date(2025, 2, 28))}
    assert (shown["permits_active"]["status"], shown["permits_active"]["value"]) == ("ok", 1)
