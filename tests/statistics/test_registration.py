"""The statistics know the higher apps only through what those apps register: balance sources,
figures; population's code names none of their tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from population.statistics.balance import BalanceSource, balance_compute, balance_source_hook
from population.statistics.extra import figure_hook
from population.statistics.services import month_parse, snapshot_take
from tests.statistics.conftest import small_city, small_city_regions  # noqa: F401
from tests.statistics.test_figures import this_month

HIGHER_APPS = ("registry", "residence_permit", "settlement")


def test_population_holds_no_sql_on_a_higher_app_s_tables():
    tables = {
        model._meta.db_table
        for label in HIGHER_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    }
    assert "registry_household" in tables and "registry_registrationevent" in tables
    pattern = re.compile(r"\b(" + "|".join(sorted(tables, key=len, reverse=True)) + r")\b")
    found = [
        f"{path.relative_to(settings.BASE_DIR)}: {match.group(1)}"
        for path in sorted((Path(settings.BASE_DIR) / "population").rglob("*.py"))
        if "migrations" not in path.parts
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_registry_registers_the_balance_source_and_the_higher_apps_their_figures():
    assert balance_source_hook.keys() == ["registry.registration_events"]
    assert sorted(figure_hook.keys()) == [
        "permits_active",
        "permits_issued",
        "settlements_by_channel",
    ]


@pytest.mark.django_db
def test_the_balance_counts_what_the_registered_sources_return(small_city):  # noqa: F811
    snapshot_take(month=this_month())
    before = balance_compute(region_code="441803000000", month=this_month())
    assert (before["births"], before["imbalance"]) == (0, 7)
    month_end = month_parse(this_month())
    person = before["unexplained"][0]["person_id"]

    def births(*, prefix, first, last):
        assert (prefix, first, last) == ("441803", month_end.replace(day=1), month_end)
        return [
            {
                "id": 1,
                "kind": "test_birth",
                "person_id": person,
                "effective_date": first,
                "out_of": False,
                "into": True,
                "flow": "births",
            },
            {  # leaving another area: does not count here
                "id": 2,
                "kind": "test_move",
                "person_id": person,
                "effective_date": first,
                "out_of": False,
                "into": False,
                "flow": "moves_out",
            },
        ]

    balance_source_hook.register(BalanceSource("test.births", births))
    try:
        after = balance_compute(region_code="441803000000", month=this_month())
    finally:
        balance_source_hook.unregister("test.births")
    assert (after["births"], after["moves_out"], after["imbalance"]) == (1, 0, 6)
    assert [u["person_id"] for u in after["unexplained"]] == [
        u["person_id"] for u in before["unexplained"][1:]
    ]
    assert [e["kind"] for e in after["events"]] == ["test_birth", "test_move"]
