"""Department feed ingest: the whole sync pipeline against bulk_create and raw COPY + upsert.

One run on a scratch database with the demo city: a social-insurance feed of --rows rows goes
through (p) the pipeline (bytes in: decode, Python row checks, COPY to staging, SQL checks,
chunked upsert with history and effects, checkpoints), (a) Django
``bulk_create(update_conflicts=True)`` of the same rows, pre-parsed, and (b) COPY of the
pre-parsed rows into a temp table plus ``INSERT ... ON CONFLICT DO UPDATE ... WHERE IS DISTINCT
FROM``, and (c) plain COPY into an unindexed table as the floor. Each writes its own record
numbers into the same fact table (same indexes, same history triggers). Then a second load of
the same size where 30% of the rows changed and the rest are identical.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/bench_ingest.py \
        --persons 200000 --rows 1000000
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import pstats
import time

from _setup import drop_database, print_table, use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--profile", action="store_true", help="profile the pipeline's 1st load")
    args = parser.parse_args()

    name = "popbase_bench_ingest"
    use_database(name, fresh=True)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from population.models import Fact, Person
    from population.sync import services
    from population.sync.samples import sample_feed, sample_persons

    settings.CELERY_TASK_ALWAYS_EAGER = True
    call_command("seed_demo", persons=args.persons, seed=1, verbosity=0)
    persons = sample_persons()
    person_ids = dict(Person.objects.values_list("citizen_id", "id"))
    t = time.perf_counter()
    feed = sample_feed(kind="social_insurance", persons=persons, rows=args.rows, seed=1)
    print(f"feed of {args.rows:,} rows ({len(feed.content) / 1e6:.0f} MB) made in "
          f"{time.perf_counter() - t:.0f} s; {len(persons):,} persons")  # fmt: skip

    header, *lines = feed.content.decode().splitlines()
    parsed = [row for row in csv.reader(lines)]

    def changed(rows):
        out = []
        for i, row in enumerate(rows):
            if i % 10 < 3:  # 30% of the rows change: one more month of contributions
                row = [*row[:4], str(int(row[4]) + 1), *row[5:]]
            out.append(row)
        return out

    second_rows = changed(parsed)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header.split(","), *second_rows])
    second_content = buf.getvalue().encode()

    def pipeline(content: bytes, label: str):
        batch = services.batch_receive(
            department="hrss", content=content, filename=f"social_insurance_{label}.csv",
            fmt="csv", source="command", enqueue=False,
        )  # fmt: skip
        return services.batch_process(batch_id=batch.pk)

    def objects(rows, prefix):
        now = timezone.now()
        return [
            Fact(
                kind="social_insurance",
                record_no=prefix + r[0],
                department="hrss",
                person_id=person_ids[r[1]],
                reported_name=r[2],
                months=int(r[4]),
                event_date=r[5],
                region_code=r[6],
                detail={"insurance_type": r[3]},
                batch_id=batch_ref,
                created_at=now,
                updated_at=now,
            )
            for r in rows
        ]

    update_fields = ["person", "reported_name", "months", "event_date", "region_code", "detail",
                     "batch", "updated_at"]  # fmt: skip

    def bulk_create(rows):
        objs = objects(rows, "A:")
        t = time.perf_counter()
        for i in range(0, len(objs), 5000):
            with transaction.atomic():
                Fact.objects.bulk_create(
                    objs[i : i + 5000], update_conflicts=True,
                    unique_fields=["kind", "record_no"], update_fields=update_fields,
                )  # fmt: skip
        return time.perf_counter() - t

    def copy_upsert(rows):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_stage (record_no text, citizen_id text, name text,"
                " insurance_type text, months int, as_of date, region_code text) ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY bench_stage FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            cursor.execute(
                """INSERT INTO population_fact AS f (kind, record_no, department, person_id,
                       reported_name, counterpart_citizen_id, org, region_code, event_date,
                       months, detail, batch_id, created_at, updated_at)
                   SELECT 'social_insurance', 'B:' || s.record_no, 'hrss', p.id, s.name, '', '',
                       s.region_code, s.as_of, s.months,
                       jsonb_build_object('insurance_type', s.insurance_type), %s, now(), now()
                   FROM bench_stage s JOIN population_person p ON p.citizen_id = s.citizen_id
                   ON CONFLICT (kind, record_no) DO UPDATE SET months = EXCLUDED.months,
                       event_date = EXCLUDED.event_date, detail = EXCLUDED.detail,
                       reported_name = EXCLUDED.reported_name, updated_at = EXCLUDED.updated_at
                   WHERE (f.months, f.event_date, f.detail, f.reported_name)
                       IS DISTINCT FROM (EXCLUDED.months, EXCLUDED.event_date, EXCLUDED.detail,
                                         EXCLUDED.reported_name)""",
                [batch_ref],
            )
        return time.perf_counter() - t

    def plain_copy(rows):
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_plain (record_no text, citizen_id text, name text,"
                " insurance_type text, months int, as_of date, region_code text) ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY bench_plain FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        return time.perf_counter() - t

    results = []
    batch_ref = None
    for load, content, rows in (("1st (all new)", feed.content, parsed),
                                ("2nd (30% changed)", second_content, second_rows)):  # fmt: skip
        t = time.perf_counter()
        if args.profile and load.startswith("1st"):
            profiler = cProfile.Profile()
            batch = profiler.runcall(pipeline, content, load[:3])
        else:
            batch = pipeline(content, load[:3])
        took_p = time.perf_counter() - t
        batch_ref = batch_ref or batch.pk
        took_a = bulk_create(rows)
        took_b = copy_upsert(rows)
        took_c = plain_copy(rows)
        n = len(rows)
        rate = {k: n / v for k, v in (("p", took_p), ("a", took_a), ("b", took_b), ("c", took_c))}
        results.append([
            load, f"{rate['p']:,.0f}", f"{rate['a']:,.0f}", f"{rate['b']:,.0f}",
            f"{rate['c']:,.0f}", f"{rate['p'] / rate['a']:.2f}", f"{rate['p'] / rate['b']:.2f}",
            f"{rate['p'] / rate['c']:.2f}", f"{batch.applied:,}/{batch.unchanged:,}",
        ])  # fmt: skip
    history = Fact.pgh_event_model.objects.count()
    print_table(
        f"ingest of {args.rows:,} social-insurance rows on {args.persons:,} persons "
        f"(rows/s; history rows written: {history:,})",
        [
            "load",
            "pipeline",
            "(a) bulk_create",
            "(b) COPY+upsert",
            "(c) plain COPY",
            "p/a",
            "p/b",
            "p/c",
            "applied/unchanged",
        ],
        results,
    )
    if args.profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    if not args.keep:
        drop_database(name)


if __name__ == "__main__":
    main()
