"""Targets from the city documents, with progress and distance to go."""

from __future__ import annotations

import pytest
from django.utils import timezone

from population.errors import NotFound
from population.models import Region, RegionLevel
from population.statistics.models import StatSnapshot
from population.statistics.services import snapshot_take
from population.statistics.targets import targets_progress

pytestmark = pytest.mark.django_db


def test_qingyuan_progress_on_the_small_city(small_city):
    snapshot_take(month=timezone.localdate().strftime("%Y-%m"))
    progress = targets_progress(region_code="441800000000")
    resident, gap = progress["targets"]
    assert resident["current"] == round(1600 / 26, 4)
    assert resident["reached"] is True and resident["to_go"] == 0.0
    assert gap["op"] == "narrower" and gap["change"] == 0.0  # one month only: no change yet


def _snapshot(code, total, urban, res_total, res_urban, month="2020-12-31"):
    StatSnapshot.objects.create(
        month=month,
        region_code=code,
        level=2,
        registered_total=total,
        registered_urban=urban,
        resident_total=res_total,
        resident_urban=res_urban,
    )


def test_shaoguan_distance_to_go_and_the_base_gap(db, settings):
    province = Region.objects.create(code="440000000000", name="广东省", level=RegionLevel.PROVINCE)
    Region.objects.create(
        code="440200000000", name="韶关市", level=RegionLevel.CITY, parent=province
    )
    _snapshot("440200000000", 1000, 400, 1000, 560)  # 40 % and 56 %: gap 16 points
    progress = targets_progress(region_code="440200000000")
    registered, gap = progress["targets"]
    assert (registered["current"], registered["to_go"], registered["reached"]) == (40.0, 5.0, False)
    assert (gap["to_go"], gap["reached"], gap["base_gap"]) == (None, None, None)  # base unknown
    settings.POPBASE_STATS_BASE_GAPS = {"440200000000": {"2013": 17.0}}
    gap = targets_progress(region_code="440200000000")["targets"][1]
    assert (gap["limit"], gap["to_go"], gap["reached"]) == (15.0, 1.0, False)


def test_a_city_without_targets_or_data_is_refused(db):
    with pytest.raises(NotFound) as excinfo:
        targets_progress(region_code="440700000000")
    assert excinfo.value.code == "no_targets"
    with pytest.raises(NotFound) as excinfo:
        targets_progress(region_code="530900000000")
    assert excinfo.value.code == "no_data"
