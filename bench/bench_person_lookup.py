"""Load the demo city at N persons, then time person lookup by citizen ID.

Baselines, in the same run and on the same data: a raw SQL primary-key lookup (the fastest read
the database offers) and a raw SQL lookup on the unique citizen-ID index. The project path is
``population.selectors.person_get_by_citizen_id``: parse and normalise the ID, one indexed query,
regions joined. Printed: per-lookup latency (median, p99), lookups/s, and the ratio to the
primary-key baseline.

    python bench/bench_person_lookup.py [--persons 1000000] [--lookups 20000] [--fresh]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _setup import print_table, use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="drop and reload the scratch DB")
    args = parser.parse_args()

    use_database(f"popbase_bench_{args.persons}", fresh=args.fresh)
    from django.db import connection

    from population.demo import seed_demo_city
    from population.models import Person
    from population.regions import regions_load_reference, villages_generate_demo
    from population.selectors import person_get_by_citizen_id

    seed_rows = []
    if Person.objects.count() != args.persons:
        Person.objects.exists() and _abort("scratch DB holds another city; rerun with --fresh")
        started = time.monotonic()
        regions_load_reference()
        villages_generate_demo()
        seed_demo_city(persons=args.persons, seed=args.seed)
        seconds = time.monotonic() - started
        seed_rows.append(
            [f"{args.persons:,}", f"{seconds:.1f}", f"{args.persons / seconds:,.0f}", "120.0"]
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE population_person")

    rng = random.Random(args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM population_person")
        max_id = cursor.fetchone()[0]
        ids = [rng.randint(1, max_id) for _ in range(args.lookups)]
        cursor.execute("SELECT id, citizen_id FROM population_person WHERE id = ANY(%s)", [ids])
        by_id = dict(cursor.fetchall())
    ids = [i for i in ids if i in by_id]
    numbers = [by_id[i] for i in ids]

    def timed(fn, keys) -> list[float]:
        out = []
        for key in keys:
            t = time.perf_counter()
            fn(key)
            out.append(time.perf_counter() - t)
        return out

    pk_sql = (
        "SELECT p.*, h.name, r.name FROM population_person p"
        " LEFT JOIN population_region h ON h.code = p.hukou_region_id"
        " LEFT JOIN population_region r ON r.code = p.residence_region_id WHERE p.id = %s"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor

        def pk_lookup(key):
            raw.execute(pk_sql, [key])
            assert raw.fetchone() is not None

        def id_lookup(key):
            raw.execute(pk_sql.replace("p.id = %s", "p.citizen_id = %s"), [key])
            assert raw.fetchone() is not None

        def selector_lookup(key):
            assert person_get_by_citizen_id(citizen_id=key) is not None

        # Warm caches and connections equally, then interleave to share any drift fairly.
        for fn, keys in ((pk_lookup, ids), (id_lookup, numbers), (selector_lookup, numbers)):
            timed(fn, keys[:1000])
        results = {"pk": [], "id": [], "selector": []}
        step = 1000
        for start in range(0, len(ids), step):
            results["pk"] += timed(pk_lookup, ids[start : start + step])
            results["id"] += timed(id_lookup, numbers[start : start + step])
            results["selector"] += timed(selector_lookup, numbers[start : start + step])

    if seed_rows:
        print_table(
            "seed_demo (COPY, one transaction, history triggers on)",
            ["persons", "seconds", "persons/s", "target s at 1M"],
            seed_rows,
        )
    base = statistics.median(results["pk"])
    rows = []
    for label, key in (
        ("raw SQL by primary key (baseline)", "pk"),
        ("raw SQL by citizen_id index", "id"),
        ("selector person_get_by_citizen_id", "selector"),
    ):
        samples = sorted(results[key])
        median = statistics.median(samples)
        p99 = samples[int(len(samples) * 0.99) - 1]
        rows.append(
            [
                label,
                f"{median * 1e6:,.0f}",
                f"{p99 * 1e6:,.0f}",
                f"{len(samples) / sum(samples):,.0f}",
                f"{median / base:.2f}",
            ]
        )
    print_table(
        f"person lookup by ID, {args.persons:,} persons, {len(ids):,} random lookups each",
        ["path", "median µs", "p99 µs", "lookups/s", "ratio to PK"],
        rows,
    )


def _abort(message: str) -> None:
    raise SystemExit(message)


if __name__ == "__main__":
    main()
