"""Department feed ingest: the sync pipeline against the plain COPY + upsert baseline.

One run on a scratch database with the demo city. A social-insurance feed of --rows rows goes
through (p) the pipeline, bytes in (receive and store the file, the one judgement statement that
splits the stored file into rows, checks them and stages the good ones, chunked upsert with
history, effects and checkpoints), and through (b) the
strongest plain way: COPY of the same bytes (FORMAT csv) into a temporary table, then one
``INSERT ... ON CONFLICT (kind, record_no) DO UPDATE ... WHERE (...) IS DISTINCT FROM (...)``
into a table of the fact table's shape (``LIKE population_fact INCLUDING ALL``: same columns,
checks and indexes; no history, no foreign keys). Three loads, each side by side: the first
(all new), a second where 30% of the rows changed, and an unchanged reload (the same rows in
another order, so another file). Each figure is printed with the load average around it: the
machine is shared, so the ratio within one run is what counts.

Then the chunk sequence that once made the history trigger crawl: a chunk that updates nothing
followed, in the same session, by one that updates every row, against the same kind of chunk
alone in a fresh session (the control). With --scale, first loads of each size in a separate
worker process, printing rows/s and that process's peak RSS.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/bench_ingest.py \
        --rows 1000000 [--scale 100000,1000000,5000000]
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

from _setup import ROOT, admin_connection, database_exists, print_table, server_url, use_database


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


class Phases(logging.Handler):
    """Collects the pipeline's phase timers (logged by population.sync.pipeline)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.totals: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        timings = getattr(record, "phases", None)
        if timings:
            for key, value in timings.items():
                self.totals[key] = self.totals.get(key, 0.0) + value

    def take(self) -> dict[str, float]:
        out, self.totals = self.totals, {}
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, help="lines per chunk (default: SYNC_CHUNK_ROWS)")
    parser.add_argument(
        "--scale", help="comma-separated sizes for the scale curve, e.g. 100000,1000000"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--scale-only", action="store_true", help="only the scale curve (with --scale)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a worker process of --scale
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    base = urlsplit(server_url()).path.lstrip("/") or "popbase"
    seed_db = f"{base}_bench_seed_{args.persons}"
    work_db = f"{base}_bench_ingest"
    seeded = database_exists(seed_db)
    use_database(seed_db)
    from django.core.management import call_command
    from django.db import connection, connections

    from population.models import Person

    if not seeded or Person.objects.count() < args.persons:
        t = time.perf_counter()
        call_command("seed_demo", persons=args.persons, seed=1, city_only=True, verbosity=0)
        print(f"seeded {args.persons:,} persons in {time.perf_counter() - t:.0f} s")
    fresh_copy(seed_db, work_db)
    connections["default"].settings_dict["NAME"] = work_db
    call_command("migrate", verbosity=0)

    from django.conf import settings

    from population.sync import pipeline, services
    from population.sync.samples import sample_feed, sample_persons

    settings.CELERY_TASK_ALWAYS_EAGER = True
    if args.chunk:
        settings.SYNC_CHUNK_ROWS = args.chunk
    if args.scale_only:
        scale_curve(args, seed_db, work_db, sample_persons())
        return
    phases = Phases()
    logging.getLogger(pipeline.__name__).addHandler(phases)
    logging.getLogger(pipeline.__name__).setLevel(logging.DEBUG)
    persons = sample_persons()
    t = time.perf_counter()
    feed = sample_feed(kind="social_insurance", persons=persons, rows=args.rows, seed=1)
    header, *lines = feed.content.decode().splitlines()
    parsed = list(csv.reader(lines))
    second = changed(parsed, every=10, share=3)
    third = second[len(second) // 2 :] + second[: len(second) // 2]
    contents = [feed.content, render(header, second), render(header, third)]
    print(
        f"feed of {args.rows:,} rows ({len(feed.content) / 1e6:.0f} MB) made in "
        f"{time.perf_counter() - t:.0f} s; {len(persons):,} persons; "
        f"chunk {settings.SYNC_CHUNK_ROWS:,} lines; load average {load()}"
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_fact (LIKE population_fact INCLUDING ALL)")

    def pipeline_run(content: bytes, label: str):
        batch = services.batch_receive(
            department="hrss", content=content, filename=f"social_insurance_{label}.csv",
            fmt="csv", source="command", enqueue=False,
        )  # fmt: skip
        return services.batch_process(batch_id=batch.pk)

    results, profiles = [], []
    labels = ("first load (all new)", "30% changed", "unchanged reload")
    batch_ref = None
    for label, content in zip(labels, contents, strict=True):
        n = args.rows
        before = load()
        t = time.perf_counter()
        batch = pipeline_run(content, label.split()[0])
        took_p = time.perf_counter() - t
        profiles.append((label, phases.take()))
        batch_ref = batch_ref or batch.pk
        took_b = baseline(connection, content, batch_ref)
        after = load()
        rate_p, rate_b = n / took_p, n / took_b
        results.append([
            label, f"{rate_p:,.0f}", f"{rate_b:,.0f}", f"{rate_p / rate_b:.2f}",
            f"{took_p:.1f} / {took_b:.1f}", f"{batch.applied:,}/{batch.unchanged:,}/"
            f"{batch.rejected:,}", f"{before} → {after}",
        ])  # fmt: skip
    print_table(
        f"ingest of {args.rows:,} social-insurance rows on {args.persons:,} persons (rows/s)",
        ["load", "pipeline", "baseline", "ratio", "seconds p / b", "applied/unchanged/rejected",
         "load avg"],
        results,
    )  # fmt: skip
    for label, timings in profiles:
        print(f"  phases of {label}: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    chunk_sequence(parsed, connection, settings)
    if args.scale:
        scale_curve(args, seed_db, work_db, persons)
    if not args.keep:
        connections.close_all()
        with admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{work_db}" WITH (FORCE)')


def changed(rows: list[list[str]], *, every: int, share: int, plus: int = 1) -> list[list[str]]:
    """``share`` rows of every ``every`` change: more months of contributions."""
    return [
        [*r[:4], str(int(r[4]) + plus), *r[5:]] if i % every < share else r
        for i, r in enumerate(rows)
    ]


def render(header: str, rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    buf.write(header + "\n")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def fresh_copy(template: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def baseline(connection, content: bytes, batch_id: int) -> float:
    """COPY the bytes into a temporary table, then one upsert; seconds, committed."""
    from django.db import transaction

    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_raw (record_no text, citizen_id text, name text,"
            " insurance_type text, months text, as_of text, region_code text) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY bench_raw FROM STDIN (FORMAT csv, HEADER true)") as copy:
            for i in range(0, len(content), 1 << 20):
                copy.write(content[i : i + (1 << 20)])
        cursor.execute(
            """INSERT INTO bench_fact AS f (kind, record_no, department, person_id,
                   reported_name, counterpart_citizen_id, org, region_code, event_date,
                   months, detail, batch_id, created_at, updated_at)
               SELECT 'social_insurance', s.record_no, 'hrss', p.id, s.name, '', '',
                   coalesce(s.region_code, ''), s.as_of::date, s.months::integer,
                   jsonb_build_object('insurance_type', s.insurance_type), %s, now(), now()
               FROM bench_raw s JOIN population_person p ON p.citizen_id = s.citizen_id
               ON CONFLICT (kind, record_no) DO UPDATE SET
                   person_id = EXCLUDED.person_id, reported_name = EXCLUDED.reported_name,
                   region_code = EXCLUDED.region_code, event_date = EXCLUDED.event_date,
                   months = EXCLUDED.months, detail = EXCLUDED.detail,
                   batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at
               WHERE (f.person_id, f.reported_name, f.region_code, f.event_date, f.months,
                      f.detail)
                   IS DISTINCT FROM (EXCLUDED.person_id, EXCLUDED.reported_name,
                      EXCLUDED.region_code, EXCLUDED.event_date, EXCLUDED.months,
                      EXCLUDED.detail)""",
            [batch_id],
        )
    return time.perf_counter() - t


def chunk_sequence(parsed, connection, settings) -> None:
    """A chunk updating nothing, then one updating every row, against that chunk alone."""
    chunk = min(10_000, max(1, len(parsed) // 4))
    saved = settings.SYNC_CHUNK_ROWS
    settings.SYNC_CHUNK_ROWS = chunk
    # The facts now hold the 30%-changed values (second and third loads).
    current = changed(parsed, every=10, share=3)
    header = "record_no,citizen_id,name,insurance_type,months,as_of,region_code"
    unchanged_part = current[:chunk]
    sequence_part = changed(current[chunk : 2 * chunk], every=1, share=1, plus=5)
    control_part = changed(current[2 * chunk : 3 * chunk], every=1, share=1, plus=5)
    times = {}
    for label, rows in (("control", control_part), ("sequence", unchanged_part + sequence_part)):
        connection.close()  # a fresh session: no plan cached from an earlier chunk
        stamps: list[float] = []
        batch = services_process(render(header, rows), label, stamps)
        # The slowest chunk: the one with the updates (stamps[0] is the end of staging).
        slowest = max(b - a for a, b in itertools.pairwise(stamps))
        times[label] = (slowest, batch.applied, batch.unchanged)
    settings.SYNC_CHUNK_ROWS = saved
    ratio = times["sequence"][0] / times["control"][0]
    print(
        f"\nchunk sequence ({chunk:,}-line chunks; load average {load()}): a chunk of "
        f"{times['sequence'][1]:,} updates after an unchanged chunk took "
        f"{times['sequence'][0]:.2f} s, alone (control, {times['control'][1]:,} updates) in a "
        "fresh session "
        f"{times['control'][0]:.2f} s: ratio {ratio:.2f}"
    )


def services_process(content: bytes, label: str, stamps: list[float]):
    """Run a batch, stamping the time after staging and after each committed chunk."""
    from population.sync import services

    batch = services.batch_receive(
        department="hrss", content=content, filename=f"social_insurance_{label}.csv",
        fmt="csv", source="command", enqueue=False,
    )  # fmt: skip
    return services.batch_process(
        batch_id=batch.pk, progress=lambda b: stamps.append(time.perf_counter())
    )


def scale_curve(args, seed_db: str, work_db: str, persons) -> None:
    """First loads of each size, each in its own worker process on a fresh copy."""
    from django.db import connection

    from population.sync.samples import sample_feed

    rows = []
    for size in [int(s) for s in args.scale.split(",")]:
        feed = sample_feed(kind="social_insurance", persons=persons, rows=size, seed=2)
        fresh_copy(seed_db, work_db)
        connection.settings_dict["NAME"] = work_db
        with tempfile.NamedTemporaryFile(suffix=".csv", prefix="social_insurance_") as f:
            f.write(feed.content)
            f.flush()
            env = {**os.environ, "DATABASE_URL": database_url_of(work_db)}
            if args.chunk:
                env["SYNC_CHUNK_ROWS"] = str(args.chunk)
            before = load()
            out = subprocess.run(  # noqa: S603 (this script, this interpreter)
                [sys.executable, __file__, "--child", f.name],
                env=env, capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            result = json.loads(out.stdout.strip().splitlines()[-1])
            with connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS bench_fact (LIKE population_fact INCLUDING ALL)"
                )
            took_b = baseline(connection, feed.content, result["batch"])
            after = load()
        rate_p, rate_b = size / result["seconds"], size / took_b
        rows.append([
            f"{size:,}", f"{result['seconds']:.1f}", f"{rate_p:,.0f}", f"{rate_b:,.0f}",
            f"{rate_p / rate_b:.2f}", f"{result['rss_mb']:.0f}", f"{len(feed.content) / 1e6:.0f}",
            f"{before} → {after}",
        ])  # fmt: skip
    print_table(
        "scale curve: first load in a worker process",
        ["rows", "seconds", "pipeline rows/s", "baseline rows/s", "ratio", "peak RSS MB",
         "file MB", "load avg"],
        rows,
    )  # fmt: skip


def database_url_of(name: str) -> str:
    from _setup import database_url

    return database_url(name)


def child(path: str) -> None:
    """Worker side of --scale: receive and process one file, print seconds and peak RSS."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from pathlib import Path

    from population.sync import services

    t = time.perf_counter()
    content = Path(path).read_bytes()
    batch = services.batch_receive(
        department="hrss", content=content, filename=Path(path).name, fmt="csv",
        source="command", enqueue=False,
    )  # fmt: skip
    del content
    batch = services.batch_process(batch_id=batch.pk)
    took = time.perf_counter() - t
    # VmHWM: this process's own peak (ru_maxrss would include the parent's at the fork).
    status = Path("/proc/self/status").read_text()
    hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), None)
    rss = int(hwm) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": took, "rss_mb": rss, "batch": batch.pk}))


if __name__ == "__main__":
    main()
