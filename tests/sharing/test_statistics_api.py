"""GET /api/v1/statistics/urbanization: stored month-end figures, small counts suppressed."""

from __future__ import annotations

import pytest

from population.models import AccessLog
from population.statistics.models import StatSnapshot
from tests.sharing.conftest import Caller, assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/v1/statistics/urbanization"


@pytest.fixture
def snapshot(city):
    return StatSnapshot.objects.create(
        month="2020-12-31", region_code=city.code, level=2,
        registered_total=1000, registered_urban=400, resident_total=1200, resident_urban=660,
        resident_male=610, resident_female=590, separated=3,
    )  # fmt: skip


@pytest.fixture
def caller(make_client):
    _client, key = make_client(department="statistics", purposes=["statistics"])
    return Caller(key, purpose="statistics")


def test_the_figures_of_an_area_with_small_counts_suppressed(caller, snapshot, settings):
    settings.POPBASE_STATS_SMALL_COUNT = 5
    response = caller.get(PATH, {"region": "441800000000", "month": "2020-12"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "region_code": "441800000000", "region_name": "清远市", "level": 2, "month": "2020-12",
        "data_date": "2020-12-31", "source": "current",
        "counts": {
            "registered_total": 1000, "registered_urban": 400, "registered_unclassified": 0,
            "registered_away": 0, "resident_total": 1200, "resident_urban": 660,
            "resident_unclassified": 0, "separated": "<5", "resident_male": 610,
            "resident_female": 590,
        },
        "registered_rate": 40.0, "resident_rate": 55.0, "gap": 15.0,
        "sex_ratio": round(100 * 610 / 590, 4), "suppressed": True,
    }  # fmt: skip
    assert AccessLog.objects.count() == 0  # aggregates: no person is read


def test_rates_built_on_a_small_count_are_withheld(caller, snapshot, settings):
    StatSnapshot.objects.filter(pk=snapshot.pk).update(resident_male=3)
    settings.POPBASE_STATS_SMALL_COUNT = 5
    body = caller.get(PATH, {"region": "441800000000", "month": "2020-12"}).json()
    assert (body["counts"]["resident_male"], body["sex_ratio"]) == ("<5", None)
    assert body["registered_rate"] == 40.0


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"month": "2020-12"}, 400, "parameter_required"),
        ({"region": "441800000000"}, 400, "parameter_required"),
        ({"region": " ", "month": "2020-12"}, 400, "parameter_required"),
        ({"region": "999999000000", "month": "2020-12"}, 404, "unknown_region"),
        ({"region": "440000000000", "month": "2020-12"}, 404, "unknown_region"),  # province
        ({"region": "441800000000", "month": "2020-13"}, 400, "bad_month"),
        ({"region": "441800000000", "month": "December"}, 400, "bad_month"),
        ({"region": "441800000000", "month": "2999-01"}, 404, "month_in_future"),
        ({"region": "441800000000", "month": "2020-11"}, 404, "no_data"),
        ({"region": "441802000000", "month": "2020-12"}, 404, "no_data"),  # county: no snapshot
    ],
)
def test_bad_requests_get_the_bilingual_error(caller, snapshot, params, status, code):
    assert_error(caller.get(PATH, params), status, code)


@pytest.fixture
def scoped_caller(make_client, city):
    """A statistics client limited to 清城区 (441802)."""
    _client, key = make_client(
        department="statistics", purposes=["statistics"], region_prefixes=["441802"]
    )
    return Caller(key, purpose="statistics")


@pytest.mark.parametrize(
    "region",
    [
        "441800000000",  # the whole city: wider than the client's county
        "441803000000",  # another county
        "441803100000",  # a township of another county
        "999999000000",  # unknown anywhere
    ],
)
def test_an_area_outside_the_clients_regions_answers_as_unknown(
    scoped_caller, snapshot, village, region
):
    from population.models import Region, RegionLevel

    county = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    for code, level in [("441803000000", 3), ("441803100000", 4)]:
        StatSnapshot.objects.create(month="2020-12-31", region_code=code, level=level,
                                    registered_total=50, registered_urban=20,
                                    resident_total=60, resident_urban=30,
                                    resident_male=30, resident_female=30)  # fmt: skip
    body = assert_error(
        scoped_caller.get(PATH, {"region": region, "month": "2020-12"}), 404, "unknown_region"
    )
    # Word for word the answer to a code nobody has: the scope does not tell what exists.
    assert body["message_zh"] == f"未知的统计区域：{region}（应为市、县或乡级区划代码）"
    assert (
        body["message_en"] == f"unknown area {region!r} (expected a city, county or township code)"
    )


def test_an_area_inside_the_clients_regions_is_answered(scoped_caller, snapshot, village):
    county = village.parent.parent
    StatSnapshot.objects.create(month="2020-12-31", region_code=county.code, level=3,
                                registered_total=500, registered_urban=200,
                                resident_total=600, resident_urban=300)  # fmt: skip
    response = scoped_caller.get(PATH, {"region": county.code, "month": "2020-12"})
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["registered_total"] == 500
