"""A hand-computed small city (29 persons, 5 village units, 3 townships, 2 counties).

| group | n | hukou | residence | note |
|---|---|---|---|---|
| G1 | 6 | V1 | - | 3 m 3 f |
| G2 | 4 | V2 | - | m |
| G3 | 3 | V2 | V1 | f, same township |
| G4 | 2 | V4 | V3 | m, other county |
| G5 | 5 | - | V3 | m, not registered, aged 7 |
| G6 | 3 | V4 | - | f |
| G7 | 2 | V5 | - | 1 m 1 f, unit without classification |
| G8 | 1 | V1 | - | deceased |
| G9 | 2 | - | - | no place at all |
| G10 | 1 | V3 | V4 | m |

V1 441802006001 urban 111; V2 441802006002 rural 220 (a later year's 111 is ignored);
V3 441802100001 urban 121 (220 in an earlier year); V4 441803100001 rural 210;
V5 441803100002 no classification.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from population.models import Person, PersonStatus, Region, RegionLevel, RegionUrbanRural

V1, V2, V3, V4, V5 = (
    "441802006001",
    "441802006002",
    "441802100001",
    "441803100001",
    "441803100002",
)


def _region(code, name, level, parent=None, synthetic=False):
    return Region.objects.create(
        code=code, name=name, level=level, parent=parent, is_synthetic=synthetic
    )


@pytest.fixture
def small_city_regions(village):
    """Regions of the small city; ``village`` is V1 under 清城区 凤城街道."""
    year = timezone.localdate().year
    city = Region.objects.get(code="441800000000")
    qingcheng = Region.objects.get(code="441802000000")
    fengcheng = Region.objects.get(code="441802006000")
    v2 = _region(V2, "凤城街道第二社区", RegionLevel.VILLAGE, fengcheng, True)
    dongcheng = _region("441802100000", "东城街道", RegionLevel.TOWNSHIP, qingcheng)
    v3 = _region(V3, "东城街道第一社区", RegionLevel.VILLAGE, dongcheng, True)
    qingxin = _region("441803000000", "清新区", RegionLevel.COUNTY, city)
    taihe = _region("441803100000", "太和镇", RegionLevel.TOWNSHIP, qingxin)
    v4 = _region(V4, "太和镇第一村", RegionLevel.VILLAGE, taihe, True)
    v5 = _region(V5, "太和镇第二村", RegionLevel.VILLAGE, taihe, True)
    for region, code_year, code in (
        (village, year, "111"),
        (v2, year, "220"),
        (v2, year + 1, "111"),
        (v3, year - 5, "220"),
        (v3, year - 1, "121"),
        (v4, year, "210"),
    ):
        RegionUrbanRural.objects.create(region=region, year=code_year, code=code)
    return {r.code: r for r in (village, v2, v3, v4, v5)}


@pytest.fixture
def small_city(small_city_regions, make_person):
    regions = small_city_regions
    today = timezone.localdate()
    adult = dt.date(today.year - 32, 1, 1)
    child = dt.date(today.year - 7, 1, 1)
    groups = [
        # (count, hukou, residence, male flags, born)
        (6, V1, None, [True, True, True, False, False, False], adult),
        (4, V2, None, [True] * 4, adult),
        (3, V2, V1, [False] * 3, adult),
        (2, V4, V3, [True] * 2, adult),
        (5, None, V3, [True] * 5, child),
        (3, V4, None, [False] * 3, adult),
        (2, V5, None, [True, False], adult),
        (1, V1, None, [True], adult),
        (2, None, None, [True, False], adult),
        (1, V3, V4, [True], adult),
    ]
    persons = []
    for index, (count, hukou, residence, males, born) in enumerate(groups):
        for i in range(count):
            persons.append(
                make_person(
                    name=f"G{index + 1}-{i}",
                    born=born,
                    male=males[i],
                    hukou_region=regions.get(hukou),
                    residence_region=regions.get(residence),
                )
            )
    deceased = persons[6 + 4 + 3 + 2 + 5 + 3 + 2]
    Person.objects.filter(pk=deceased.pk).update(status=PersonStatus.DECEASED)
    assert Person.objects.count() == 29
    return persons
