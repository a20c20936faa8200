"""The city-level urbanization report against a raw GROUP BY full scan over persons.

Loads the demo city at N persons (default 10,000,000; ``--persons`` to choose), takes the month's
statistics snapshot (the monthly job, timed once), then times in the same run:

- baseline: one raw ``GROUP BY`` full scan over ``population_person`` joined to the urban-rural
  codes, giving the city's registered and resident urban counts directly;
- project: the city report as served (``selectors.urbanization`` for the city plus
  ``urbanization_by_area`` for its counties), read from the snapshot.

    python bench/bench_stats.py [--persons 10000000] [--repeat 5] [--fresh]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _setup import print_table, use_database

SCAN_SQL = """
WITH cls AS (
  SELECT DISTINCT ON (region_id) region_id, code FROM population_regionurbanrural
   WHERE year <= %(year)s ORDER BY region_id, year DESC)
SELECT left(COALESCE(p.residence_region_id, p.hukou_region_id), 4) AS city,
       count(*) FILTER (WHERE p.hukou_region_id IS NOT NULL) AS registered,
       count(*) FILTER (WHERE p.hukou_region_id IS NOT NULL AND ch.code = ANY(%(urban)s)),
       count(*) AS resident,
       count(*) FILTER (WHERE cr.code = ANY(%(urban)s))
  FROM population_person p
  LEFT JOIN cls ch ON ch.region_id = p.hukou_region_id
  LEFT JOIN cls cr ON cr.region_id = COALESCE(p.residence_region_id, p.hukou_region_id)
 WHERE p.status = 'active'
 GROUP BY 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fresh", action="store_true", help="drop and reload the scratch DB")
    args = parser.parse_args()

    use_database(f"popbase_bench_stats_{args.persons}", fresh=args.fresh)
    from django.db import connection
    from django.utils import timezone

    from population.demo import DEMO_CITY, seed_demo_city
    from population.models import URBAN_CODES, Person
    from population.regions import regions_load_reference, villages_generate_demo
    from population.statistics import selectors
    from population.statistics.services import snapshot_take

    if Person.objects.count() != args.persons:
        if Person.objects.exists():
            sys.exit("scratch DB holds another city; rerun with --fresh")
        started = time.monotonic()
        regions_load_reference()
        villages_generate_demo()

        def progress(done: int) -> None:
            print(f"  seeded {done:,} / {args.persons:,}", flush=True)

        seed_demo_city(persons=args.persons, seed=args.seed, progress=progress)
        print(f"seeded {args.persons:,} persons in {time.monotonic() - started:.0f} s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    month = timezone.localdate().strftime("%Y-%m")
    city = DEMO_CITY.ljust(12, "0")
    started = time.monotonic()
    areas = snapshot_take(month=month)
    snapshot_seconds = time.monotonic() - started

    def scan():
        with connection.cursor() as cursor:
            cursor.execute(
                SCAN_SQL, {"year": timezone.localdate().year, "urban": sorted(URBAN_CODES)}
            )
            return cursor.fetchall()

    def report():
        figures = selectors.urbanization(region_code=city, month=month)
        selectors.urbanization_by_area(region_code=city, month=month)
        return figures

    def timed(fn) -> list[float]:
        fn()  # warm
        out = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
        return out

    scan_rows = {row[0]: row for row in scan()}
    figures = report()
    row = scan_rows[city[:4]]
    # The two paths agree before they are timed.
    assert (row[1], row[2]) == (
        figures["counts"]["registered_total"],
        figures["counts"]["registered_urban"],
    ), (row, figures["counts"])
    scan_t, report_t = timed(scan), timed(report)
    base = statistics.median(scan_t)
    print_table(
        f"City urbanization report, {args.persons:,} persons, city {city}, month {month} "
        f"(median of {args.repeat})",
        ["path", "median s", "min s", "ratio to scan"],
        [
            ["raw GROUP BY full scan (baseline)", f"{base:.3f}", f"{min(scan_t):.3f}", "1.00"],
            [
                "city report from snapshot (project)",
                f"{statistics.median(report_t):.4f}",
                f"{min(report_t):.4f}",
                f"{statistics.median(report_t) / base:.4f}",
            ],
            [
                f"monthly snapshot job, {areas} areas (once)",
                f"{snapshot_seconds:.3f}",
                "",
                f"{snapshot_seconds / base:.2f}",
            ],
        ],
    )
    goal = statistics.median(report_t) < 1.0 and statistics.median(report_t) < base
    print(f"\ngoal (report < 1 s and faster than the scan): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
