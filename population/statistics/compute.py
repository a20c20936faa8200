"""The figures, set-based: one GROUP BY GROUPING SETS pass over persons per month end.

Two sources of person state: the current table (the month that has just ended) and the
trigger-written history (``population_personevent``) for any past month end.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import connection

from population.models import URBAN_CODES, Person, PersonStatus, RegionUrbanRural
from population.statistics.models import AGE_GROUPS

LEVEL_BY_PREFIX = {4: 2, 6: 3, 9: 4}
COUNT_FIELDS = (
    "registered_total",
    "registered_urban",
    "registered_unclassified",
    "registered_away",
    "resident_total",
    "resident_urban",
    "resident_unclassified",
    "separated",
    "resident_male",
    "resident_female",
)

CURRENT_SOURCE = """
SELECT id, sex, birth_date, status, hukou_region_id, residence_region_id FROM population_person
"""
# The last recorded version of each person on or before the cutoff; deleted rows drop out.
HISTORY_SOURCE = """
SELECT id, sex, birth_date, status, hukou_region_id, residence_region_id FROM (
  SELECT DISTINCT ON (pgh_obj_id) pgh_obj_id AS id, sex, birth_date, status,
         hukou_region_id, residence_region_id, pgh_label
    FROM population_personevent
   WHERE pgh_created_at < %(cutoff)s
   ORDER BY pgh_obj_id, pgh_id DESC) v
 WHERE pgh_label <> 'delete'
"""

FIGURES_SQL = """
WITH p AS ({source}),
cls AS (
  SELECT DISTINCT ON (region_id) region_id, code
    FROM population_regionurbanrural WHERE year <= %(year)s
   ORDER BY region_id, year DESC
),
x AS (
  SELECT r.role, r.v, p.sex,
         LEAST(date_part('year', age(%(month_end)s::date, p.birth_date))::int / 5, 20) AS agegrp,
         cls.code AS ur,
         r.away
    FROM p
   CROSS JOIN LATERAL (VALUES
      ('H', p.hukou_region_id,
       left(p.hukou_region_id, 9) <> left(COALESCE(p.residence_region_id, p.hukou_region_id), 9)),
      ('R', COALESCE(p.residence_region_id, p.hukou_region_id),
       p.hukou_region_id IS NULL
       OR left(p.hukou_region_id, 9) <> left(COALESCE(p.residence_region_id, p.hukou_region_id), 9))
   ) AS r(role, v, away)
    LEFT JOIN cls ON cls.region_id = r.v
   WHERE p.status = 'active' AND r.v IS NOT NULL AND p.birth_date <= %(month_end)s
)
SELECT role, sex, agegrp,
       COALESCE(left(v, 9), left(v, 6), left(v, 4)) AS prefix,
       CASE WHEN GROUPING(left(v, 9)) = 0 THEN 9 WHEN GROUPING(left(v, 6)) = 0 THEN 6 ELSE 4 END,
       count(*),
       count(*) FILTER (WHERE ur = ANY(%(urban)s)),
       count(*) FILTER (WHERE ur IS NULL),
       count(*) FILTER (WHERE away)
  FROM x
 GROUP BY role, sex, agegrp, GROUPING SETS ((left(v, 4)), (left(v, 6)), (left(v, 9)))
"""


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _empty() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COUNT_FIELDS, 0)
    row["pyramid"] = {
        role: {str(sex): [0] * AGE_GROUPS for sex in (1, 2)} for role in ("resident", "registered")
    }
    return row


def _fold(rows) -> dict[str, dict[str, Any]]:
    """SQL rows (role, sex, age group, prefix, digits, n, urban, unclassified, away) → areas."""
    areas: dict[str, dict[str, Any]] = defaultdict(_empty)
    for role, sex, agegrp, prefix, digits, n, urban, unclassified, away in rows:
        code = prefix.ljust(12, "0")
        area = areas[code]
        area["level"] = LEVEL_BY_PREFIX[digits]
        if role == "H":
            area["registered_total"] += n
            area["registered_urban"] += urban
            area["registered_unclassified"] += unclassified
            area["registered_away"] += away
            area["pyramid"]["registered"][str(sex)][agegrp] += n
        else:
            area["resident_total"] += n
            area["resident_urban"] += urban
            area["resident_unclassified"] += unclassified
            area["separated"] += away
            area["resident_male" if sex == 1 else "resident_female"] += n
            area["pyramid"]["resident"][str(sex)][agegrp] += n
    return dict(areas)


def figures_compute(*, month: dt.date, from_history: bool) -> dict[str, dict[str, Any]]:
    """Counts of every city, county and township at the month end ``month``, keyed by code."""
    source = HISTORY_SOURCE if from_history else CURRENT_SOURCE
    cutoff = dt.datetime.combine(month + dt.timedelta(days=1), dt.time.min)
    from django.utils import timezone

    params = {
        "year": month.year,
        "month_end": month,
        "urban": sorted(URBAN_CODES),
        "cutoff": timezone.make_aware(cutoff),
    }
    with connection.cursor() as cursor:
        cursor.execute(FIGURES_SQL.format(source=source), params)
        return _fold(cursor.fetchall())


def figures_recount(*, month: dt.date) -> dict[str, dict[str, Any]]:
    """The same figures counted person by person in Python from the current records.

    Deliberately independent of the SQL above: the check of snapshots against the records.
    """
    classes: dict[str, tuple[int, str]] = {}
    for region_id, year, code in RegionUrbanRural.objects.values_list("region_id", "year", "code"):
        if year <= month.year and (region_id not in classes or classes[region_id][0] < year):
            classes[region_id] = (year, code)

    def urban_state(code: str) -> str:
        if code not in classes:
            return "unclassified"
        return "urban" if classes[code][1] in URBAN_CODES else "rural"

    areas: dict[str, dict[str, Any]] = defaultdict(_empty)
    persons = Person.objects.filter(status=PersonStatus.ACTIVE, birth_date__lte=month)
    for sex, born, hukou, residence in persons.values_list(
        "sex", "birth_date", "hukou_region_id", "residence_region_id"
    ).iterator():
        age = month.year - born.year - ((month.month, month.day) < (born.month, born.day))
        group = min(age // 5, AGE_GROUPS - 1)
        lives = residence or hukou
        for digits, level in LEVEL_BY_PREFIX.items():
            if hukou:
                area = areas[hukou[:digits].ljust(12, "0")]
                area["level"] = level
                area["registered_total"] += 1
                state = urban_state(hukou)
                area["registered_urban"] += state == "urban"
                area["registered_unclassified"] += state == "unclassified"
                area["registered_away"] += hukou[:9] != lives[:9]
                area["pyramid"]["registered"][str(sex)][group] += 1
            if lives:
                area = areas[lives[:digits].ljust(12, "0")]
                area["level"] = level
                area["resident_total"] += 1
                state = urban_state(lives)
                area["resident_urban"] += state == "urban"
                area["resident_unclassified"] += state == "unclassified"
                area["separated"] += hukou is None or hukou[:9] != lives[:9]
                area["resident_male" if sex == 1 else "resident_female"] += 1
                area["pyramid"]["resident"][str(sex)][group] += 1
    return dict(areas)
