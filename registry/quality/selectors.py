"""Reads of the data-quality side: figures per region and lookups that follow merges."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from population.models import Person, PersonStatus, RegionLevel
from population.selectors import person_get_by_citizen_id
from registry.quality.detectors import (
    COMPLETENESS_CHECKS,
    CROSS_CHECKS,
    PERSON_JOINS,
    VALIDATION_CHECKS,
    check_params,
)
from registry.quality.models import MergeStatus, PersonMerge

# Region code prefix length per level (12-digit code: 省2 市2 县2 乡3 村3).
PREFIX: dict[int, int] = {RegionLevel.CITY: 4, RegionLevel.COUNTY: 6, RegionLevel.TOWNSHIP: 9}


@dataclass(frozen=True)
class RegionQuality:
    """Data-quality figures of one region's registered population."""

    code: str
    name: str
    persons: int
    complete: int
    accurate: int

    @property
    def completeness(self) -> float | None:
        """采集率: share of records with every required field."""
        return self.complete / self.persons if self.persons else None

    @property
    def accuracy(self) -> float | None:
        """准确率: share of records passing every validation and cross-check."""
        return self.accurate / self.persons if self.persons else None


def quality_figures(*, level: int = RegionLevel.COUNTY, within: str = "") -> list[RegionQuality]:
    """采集率 and 准确率 per region at ``level`` (city, county or township), one SQL statement.

    Counted: everyone registered here, that is active with a hukou region, or holding an open
    membership whatever their status (a deceased person still registered counts, and fails).
    Placed by their household's region, else their hukou region.

    Complete: name, a known ethnicity code, and a household for a registered person.
    Accurate: complete, a valid check digit, an address code of some GB/T 2260 edition, status
    consistent with the membership, hukou region equal to the household's, and not named by an
    open or confirmed quality issue (the cross-record checks: duplicates, registered twice...);
    so 准确率 reflects the latest detector run.

    ``within``: a region code prefix (e.g. a county's 6 digits) to restrict the figures to.
    """
    if level not in PREFIX:
        raise ValueError("level must be city, county or township")
    n = PREFIX[level]
    if within and not within.isdigit():
        raise ValueError("within must be digits")
    complete = " AND ".join(f"NOT ({e})" for e in COMPLETENESS_CHECKS.values())
    valid = " AND ".join(
        f"NOT ({e})" for e in (*VALIDATION_CHECKS.values(), *CROSS_CHECKS.values())
    )
    sql = f"""
        WITH flagged AS (
            SELECT DISTINCT unnest(person_ids) AS person_id FROM registry_qualityissue
            WHERE status IN ('open', 'confirmed')
        ),
        per AS (
            SELECT left(coalesce(h.region_id, p.hukou_region_id), {n}) AS code,
                   ({complete}) AS complete,
                   ({valid}) AND f.person_id IS NULL AS valid
            FROM {PERSON_JOINS}
            LEFT JOIN flagged f ON f.person_id = p.id
            WHERE ((p.status = 'active' AND p.hukou_region_id IS NOT NULL) OR m.id IS NOT NULL)
              AND coalesce(h.region_id, p.hukou_region_id) LIKE %(within)s
        )
        SELECT per.code, coalesce(r.name, per.code), count(*),
               count(*) FILTER (WHERE complete),
               count(*) FILTER (WHERE complete AND valid)
        FROM per
        LEFT JOIN population_region r ON r.code = rpad(per.code, 12, '0')
        GROUP BY per.code, r.name
        ORDER BY per.code
    """  # noqa: S608 (only fixed fragments are interpolated; values are parameters)
    params: dict[str, list[str] | str] = {**check_params(), "within": f"{within}%"}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [RegionQuality(*row) for row in rows]


def person_merged_into(*, person: Person) -> Person | None:
    """The survivor a cancelled duplicate was merged into (following chains), or None."""
    seen = {person.pk}
    current = person
    while current.status == PersonStatus.CANCELLED:
        merge = (
            PersonMerge.objects.filter(duplicate=current, status=MergeStatus.APPROVED)
            .select_related("survivor")
            .first()
        )
        if merge is None or merge.survivor_id in seen:
            break
        seen.add(merge.survivor_id)
        current = merge.survivor
    return None if current.pk == person.pk else current


def person_resolve_by_citizen_id(*, citizen_id: str) -> Person | None:
    """Look a number up and land on the living record: a merged duplicate leads to its survivor."""
    person = person_get_by_citizen_id(citizen_id=citizen_id)
    if person is None:
        return None
    return person_merged_into(person=person) or person
