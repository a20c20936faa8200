"""Data-quality detectors and figures on the demo city, next to a plain full scan.

Runs on a throw-away copy of the lookup bench's database (``popbase_bench_<N>``, made by
``bench_person_lookup.py``); without it, seeds its own ``popbase_bench_quality_<N>`` first.
Baselines in the same run, on the same data: ``SELECT count(*)`` over all persons (a plain
sequential scan) and the same count over persons joined to their open membership and
household (the join every per-record check needs). Each detector is timed twice: the first run
opens the findings, the second (idempotent) run finds the same and writes nothing. Printed:
seconds per step and the ratio to the plain count.

    python bench/bench_quality.py [--persons 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import database_exists, drop_database, print_table, use_database

HOMOPHONES = dict(zip("伟明华军丽芳强平红杰文斌", "威鸣桦君莉方墙萍虹洁闻彬", strict=True))


def generate_city(connection, *, persons: int) -> None:
    """A demo-like city straight in SQL, when the lookup bench's database is not there.

    Valid, unique citizen IDs (county of the village, a birth date, a sequence, the check digit),
    names from the demo's surnames and given-name characters, one family household per three
    persons with a head. Faster than the demo seeder on a busy machine; the data-quality
    detectors only need the shape, not the demo's demography.
    """
    from population.demo import GIVEN_CHARS, SURNAMES
    from population.regions import regions_load_reference, villages_generate_demo
    from registry.quality.detectors import _WEIGHTS

    regions_load_reference()
    villages_generate_demo()
    given = "".join(GIVEN_CHARS) if not isinstance(GIVEN_CHARS, str) else GIVEN_CHARS
    total = " + ".join(f"substr(f17, {i + 1}, 1)::int * {w}" for i, w in enumerate(_WEIGHTS))
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE v AS SELECT (row_number() OVER (ORDER BY code))::int - 1 AS i,"
            " code FROM population_region WHERE level = 5 AND code LIKE '4418%%'"
        )
        cursor.execute(
            f"""
            INSERT INTO population_person (id, citizen_id, name, sex, birth_date, ethnicity,
                status, hukou_region_id, residence_region_id, created_at, updated_at)
            SELECT g + 1, f17 || substr('10X98765432', mod({total}, 11) + 1, 1), name,
                   2 - mod(seq, 2), birth, '01', 'active', code, code, now(), now()
            FROM (
                SELECT g, v.code, birth, seq,
                       left(v.code, 6) || to_char(birth, 'YYYYMMDD') || lpad(seq::text, 3, '0')
                           AS f17,
                       substr(%(surnames)s, (1 + mod(g * 7919, length(%(surnames)s)))::int, 1)
                       || substr(%(given)s, (1 + mod(g * 104729, length(%(given)s)))::int, 1)
                       || CASE WHEN mod(g, 3) > 0
                               THEN substr(%(given)s,
                                           (1 + mod(g * 1299709, length(%(given)s)))::int, 1)
                               ELSE '' END AS name
                FROM (
                    SELECT g, date '1935-01-01' + mod(g, 30000)::int AS birth, g / 30000 AS seq,
                           mod(g / 3, (SELECT count(*) FROM v)) AS vi
                    FROM generate_series(0::bigint, %(n)s - 1) AS g
                ) s JOIN v ON v.i = s.vi
            ) p
            """,
            {"n": persons, "surnames": SURNAMES, "given": given},
        )
        cursor.execute(
            """
            INSERT INTO registry_household (id, number, kind, address, region_id, created_at)
            SELECT id / 3 + 1, 'Q' || lpad((id / 3 + 1)::text, 12, '0'), 'family',
                   '演示路' || (id / 3 + 1) || '号', hukou_region_id, now()
            FROM population_person WHERE mod(id - 1, 3) = 0
            """
        )
        cursor.execute(
            """
            INSERT INTO registry_membership (person_id, household_id, relation, start_date)
            SELECT id, (id - 1) / 3 + 1, CASE WHEN mod(id - 1, 3) = 0 THEN '02' ELSE '20' END,
                   birth_date
            FROM population_person
            """
        )
        for table in ("population_person", "registry_household"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id)"
                f" FROM {table}))"
            )


def inject_problems(connection, *, share: float) -> int:
    """Give a share of persons a second record: a traditional-character, homophone or identical
    name under another valid number (one in ten with a wrong check digit), and mark a few
    registered persons deceased without closing their membership (应销未销)."""
    import random

    from opencc import OpenCC

    from population.identity import check_digit

    s2t = OpenCC("s2t")
    rng = random.Random(11)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT citizen_id, name, sex, birth_date, ethnicity FROM population_person"
            " TABLESAMPLE BERNOULLI (%s) REPEATABLE (3)",
            [share * 100],
        )
        sample = cursor.fetchall()
        rows = []
        for i, (number, name, sex, born, ethnicity) in enumerate(sample):
            sequence = (int(number[14:17]) + 2 * rng.randint(1, 499)) % 1000
            first17 = f"{number[:14]}{sequence:03d}"
            digit = check_digit(first17)
            if i % 10 == 9:
                digit = "0" if digit != "0" else "1"
            variant = (
                s2t.convert(name)
                if i % 3 == 0
                else name[:-1] + HOMOPHONES.get(name[-1], name[-1])
                if i % 3 == 1
                else name
            )
            rows.append((first17 + digit, variant, sex, born, ethnicity))
        cursor.executemany(
            "INSERT INTO population_person (citizen_id, name, sex, birth_date, ethnicity,"
            " status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'active', now(), now())"
            " ON CONFLICT DO NOTHING",
            rows,
        )
        cursor.execute(
            "UPDATE population_person SET status = 'deceased' WHERE id IN (SELECT person_id"
            " FROM registry_membership WHERE end_date IS NULL ORDER BY id LIMIT %s)",
            [max(1, len(rows) // 10)],
        )
    return len(rows) + max(1, len(rows) // 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument(
        "--duplicates", type=float, default=0.005, help="share of persons given a second record"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy afterwards")
    args = parser.parse_args()

    source = f"popbase_bench_{args.persons}"
    copy = f"popbase_bench_quality_{args.persons}"
    started = time.monotonic()
    if database_exists(source):
        use_database(copy, template=source)
        made = f"copied from {source}"
    else:
        use_database(copy, fresh=True)
        made = "seeded"
    from django.db import connection

    from population.models import Person, RegionLevel

    if Person.objects.count() != args.persons:
        generate_city(connection, persons=args.persons)
        made = "generated in SQL"
    injected = inject_problems(connection, share=args.duplicates)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    prepared = time.monotonic() - started

    from registry.quality.detectors import PERSON_JOINS, detector_hook
    from registry.quality.selectors import quality_figures
    from registry.quality.services import quality_detect

    def timed(fn, repeat: int = 1) -> float:
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    def count(sql: str):
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                cursor.fetchone()

        return run

    base = timed(count("SELECT count(*) FROM population_person"), repeat=3)
    joined = timed(count(f"SELECT count(*) FROM {PERSON_JOINS}"), repeat=3)
    rows = [
        ["SELECT count(*) persons (baseline)", "", f"{base:.2f}", "1.0"],
        ["count(*) persons ⋈ membership ⋈ household", "", f"{joined:.2f}", f"{joined / base:.1f}"],
    ]
    for detector in detector_hook:
        name = detector.name
        results = {}

        def run(name=name, results=results) -> None:
            results.update(quality_detect(detectors=[name]).results[name])

        first = timed(run)
        found, new = results["found"], results["new"]
        second = timed(run)
        label = f"{name}: first run / rerun"
        rows.append([label, f"{found:,} ({new:,} new)", f"{first:.2f} / {second:.2f}",
                     f"{first / base:.1f} / {second / base:.1f}"])  # fmt: skip
    everything: dict = {}
    whole = timed(lambda: everything.update(quality_detect().results))
    rows.append(["all detectors in one run (rerun, as the command does)",
                 f"{sum(r['found'] for r in everything.values()):,}", f"{whole:.2f}",
                 f"{whole / base:.1f}"])  # fmt: skip
    for level, label in ((RegionLevel.COUNTY, "county"), (RegionLevel.TOWNSHIP, "township")):
        figures: list = []
        seconds = timed(lambda level=level, figures=figures: figures.extend(
            quality_figures(level=level)), repeat=1)  # fmt: skip
        rows.append([f"figures per {label} ({len(figures)} regions)", "", f"{seconds:.2f}",
                     f"{seconds / base:.1f}"])  # fmt: skip
    print_table(
        f"data quality on {args.persons:,} persons + {injected:,} injected problem records"
        f" (database {made} in {prepared:.0f} s)",
        ["step", "findings", "seconds", "ratio to count(*)"],
        rows,
    )
    if not args.keep:
        drop_database(copy)


if __name__ == "__main__":
    main()
