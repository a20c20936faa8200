"""Jurisdiction scoping on the 1M-person demo city: what an officer's list and checks cost.

Loads (once) the demo city into ``popbase_bench_juris_<N>`` (a copy of the lookup bench's
``popbase_bench_<N>`` when that exists, else generated), then times, per kind of user, the
queries every scoped admin page runs: the first list page (50 rows, newest first), the exact row
count the list shows, and the one-person check a detail page makes. Baseline, in the same run:
the same queries with no scope (what a superuser's page runs). Printed: median and p99 latency
and the ratio to the baseline.

    python bench/bench_jurisdiction.py [--persons 1000000] [--repeat 30] [--fresh]
    python bench/bench_jurisdiction.py --read-only popbase_bench_1000000

``--read-only NAME`` times an existing demo database (e.g. the lookup bench's) without migrating,
seeding or vacuuming it: only SELECTs run, with whatever indexes that database has.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import django
from _setup import database_exists, database_url, print_table, use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="drop and reload the scratch DB")
    parser.add_argument("--read-only", metavar="NAME", help="time an existing demo DB, read only")
    args = parser.parse_args()

    if args.read_only:
        os.environ["DATABASE_URL"] = database_url(args.read_only)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    else:
        target, source = f"popbase_bench_juris_{args.persons}", f"popbase_bench_{args.persons}"
        if not database_exists(target) and database_exists(source):
            # Copy the lookup bench's city (a file copy) instead of generating it again.
            try:
                use_database(target, template=source)
            except Exception as exc:  # the source is in use: generate our own below
                print(f"cannot copy {source} ({exc.__class__.__name__}); generating the city")
                use_database(target, fresh=True)
        else:
            use_database(target, fresh=args.fresh)
    from django.db import connection

    from population.demo import seed_demo_city
    from population.jurisdiction import Area, person_q
    from population.models import Person, Region, RegionLevel
    from population.regions import regions_load_reference, villages_generate_demo
    from registry.jurisdiction import household_q
    from registry.models import Household

    if args.read_only:
        args.persons = Person.objects.count()
    elif Person.objects.count() != args.persons:
        if Person.objects.exists():
            raise SystemExit("scratch DB holds another city; rerun with --fresh")
        started = time.monotonic()
        regions_load_reference()
        villages_generate_demo()
        seed_demo_city(persons=args.persons, seed=args.seed)
        print(f"seeded {args.persons:,} persons in {time.monotonic() - started:.0f} s")
    if not args.read_only:
        with connection.cursor() as cursor:
            # Fresh statistics and visibility map (index-only scans), as autovacuum keeps them.
            for table in ("population_person", "registry_household", "registry_membership"):
                cursor.execute(f"VACUUM ANALYZE {table}")

    # The busiest township, its county and its city, from the data.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substr(hukou_region_id, 1, 9), count(*) FROM population_person"
            " WHERE hukou_region_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )
        township, township_count = cursor.fetchone()
    county, city = township[:6], township[:4]
    assert Region.objects.filter(code=city + "00000000", level=RegionLevel.CITY).exists()
    users = [
        (f"officer, one township ({township}, {township_count:,} registered)", (township,)),
        (f"supervisor, one county ({county})", (county,)),
        (f"auditor, the city ({city})", (city,)),
    ]
    rng = random.Random(args.seed)
    max_id = Person.objects.order_by("-id").values_list("id", flat=True).first()

    def timed(fn) -> list[float]:
        fn()  # warm
        out = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    def checks(q):
        def one():
            pk = rng.randint(1, max_id)
            Person.objects.filter(q, pk=pk).exists()

        return one

    everything = Area(everything=True)
    cases = {
        "person list, first 50": lambda q: (
            lambda: list(Person.objects.filter(q).order_by("-id")[:50])
        ),
        "person list, count": lambda q: lambda: Person.objects.filter(q).count(),
        "one-person check": checks,
    }
    rows = []
    for label, make in cases.items():
        base = timed(make(person_q(everything)))
        base_med = statistics.median(base)
        rows.append([label, "baseline: no scope", *fmt(base), "1.00"])
        for who, prefixes in users:
            sample = timed(make(person_q(Area(prefixes=prefixes))))
            ratio = statistics.median(sample) / base_med
            rows.append([label, who, *fmt(sample), f"{ratio:.2f}"])
    base = timed(lambda: list(Household.objects.order_by("-id")[:50]))
    rows.append(["household list, first 50", "baseline: no scope", *fmt(base), "1.00"])
    for who, prefixes in users:
        sample = timed(
            lambda p=prefixes: list(
                Household.objects.filter(household_q(Area(prefixes=p))).order_by("-id")[:50]
            )
        )
        ratio = statistics.median(sample) / statistics.median(base)
        rows.append(["household list, first 50", who, *fmt(sample), f"{ratio:.2f}"])
    print_table(
        f"Jurisdiction scoping, {args.persons:,} persons ({args.repeat} runs each)",
        ["query", "user", "median ms", "p99 ms", "x baseline"],
        rows,
    )


def fmt(samples: list[float]) -> list[str]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return [f"{statistics.median(samples) * 1000:.2f}", f"{p99 * 1000:.2f}"]


if __name__ == "__main__":
    main()
