"""采集率 and 准确率 per region: exact numbers on a small fixture."""

from __future__ import annotations

import datetime as dt

import pytest

from population import services as population_services
from population.models import OfficerRegion, Person, PersonStatus, Region, RegionLevel
from registry import services
from registry.models import Membership
from registry.quality.selectors import RegionQuality, quality_figures
from registry.quality.services import quality_detect
from tests.registry.quality_factories import (
    household,
    next_id,
    raw_person,
    registered,
    wrong_check_digit_id,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(village):
    """Village A (the fixture's), village B in another township, village C in another county."""
    county_a = village.parent.parent
    township_b = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county_a
    )
    b = Region.objects.create(
        code="441802007001", name="东城第一社区", level=RegionLevel.VILLAGE, parent=township_b
    )
    county_c = Region.objects.create(
        code="441803000000", name="清新区", level=RegionLevel.COUNTY, parent=county_a.parent
    )
    township_c = Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=county_c
    )
    c = Region.objects.create(
        code="441803100001", name="太和村", level=RegionLevel.VILLAGE, parent=township_c
    )
    return village, b, c


def make_population(a, b, c) -> None:
    registered(a, "甲一")  # complete, accurate
    registered(a, "乙二")  # complete, but named by an open duplicate finding
    population_services.person_create(citizen_id=next_id(), name="乙二", actor=None, reason="t")
    no_ethnicity = raw_person(citizen_id=next_id(), name="丙三", ethnicity="")
    services.move_in(  # registered, but without an ethnicity: incomplete
        citizen_id=no_ethnicity.citizen_id,
        name="丙三",
        household=household(a),
        relation="02",
        transfer_permit_number="T-9",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    population_services.person_create(  # hukou here, no household: incomplete
        citizen_id=next_id(), name="丁四", hukou_region=a, actor=None, reason="t"
    )
    registered(b, "戊五")  # complete, accurate
    legacy = raw_person(citizen_id=wrong_check_digit_id(), name="己六", hukou_region=b)
    Membership.objects.create(  # a legacy row: complete, not accurate (check digit)
        person=legacy, household=household(b), relation="02", start_date=dt.date(2000, 1, 1)
    )
    registered(c, "庚七")  # complete, accurate
    still = registered(c, "辛八")  # deceased but still in a household: counted, not accurate
    Person.objects.filter(pk=still.pk).update(status=PersonStatus.DECEASED)
    gone = registered(c, "壬九")  # properly cancelled: not counted
    services.death_cancel(
        person=gone, death_date=dt.date(2024, 1, 1), document_number="D", actor=None
    )
    population_services.person_create(  # not registered here: not counted
        citizen_id=next_id(), name="癸十", actor=None, reason="t"
    )
    quality_detect(detectors=["dup_same_name"])


def test_county_figures_are_exact(city):
    make_population(*city)
    figures = quality_figures(level=RegionLevel.COUNTY)
    assert figures == [
        RegionQuality("441802", "清城区", persons=6, complete=4, accurate=2),
        RegionQuality("441803", "清新区", persons=2, complete=2, accurate=1),
    ]
    assert (figures[0].completeness, figures[0].accuracy) == (4 / 6, 2 / 6)
    assert (figures[1].completeness, figures[1].accuracy) == (1.0, 0.5)


def test_township_figures_are_exact_and_can_be_restricted(city):
    make_population(*city)
    assert quality_figures(level=RegionLevel.TOWNSHIP) == [
        RegionQuality("441802006", "凤城街道", persons=4, complete=2, accurate=1),
        RegionQuality("441802007", "东城街道", persons=2, complete=2, accurate=1),
        RegionQuality("441803100", "太和镇", persons=2, complete=2, accurate=1),
    ]
    assert quality_figures(level=RegionLevel.TOWNSHIP, within="441803") == [
        RegionQuality("441803100", "太和镇", persons=2, complete=2, accurate=1),
    ]


def test_a_dismissed_finding_no_longer_lowers_accuracy(city, django_user_model):
    from registry.quality.models import QualityIssue
    from registry.quality.services import quality_issue_decide

    make_population(*city)
    officer = django_user_model.objects.create_user("o")
    # The finding names a person with no region: staff of the whole city decide it.
    OfficerRegion.objects.create(user=officer, region=city[0].parent.parent.parent)
    quality_issue_decide(
        issue=QualityIssue.objects.get(),
        status="dismissed",
        actor=django_user_model.objects.get(pk=officer.pk),
        note="不同人",
    )
    assert quality_figures(level=RegionLevel.COUNTY)[0].accurate == 3


def test_empty_and_bad_arguments(city):
    assert quality_figures(level=RegionLevel.COUNTY) == []
    assert RegionQuality("1", "x", 0, 0, 0).completeness is None
    with pytest.raises(ValueError):
        quality_figures(level=RegionLevel.VILLAGE)
    with pytest.raises(ValueError):
        quality_figures(within="44%")
