"""The city at several sizes: does every everyday figure grow no faster than the data?

For each size (``--persons``, comma-separated; the first size is the reference), one scratch
database ``<db>_bench_scale_<N>`` holds the demo city at N persons (seeded once, kept for the
next run unless ``--fresh``). Then, on that database, in this order:

- seed: ``seed_demo`` at N persons (only when the database is new), seconds and persons/s;
- person lookup by citizen ID (``selectors.person_get_by_citizen_id``), p50 and p99;
- the person list page of the admin (``/admin/population/person/``, first page and the count the
  page shows), requested through Django's test client as a township officer (户籍民警) of the
  busiest township and as a county supervisor (户籍主管) of that township's county;
- the city statistics report read from the month's snapshot, and the raw ``GROUP BY`` scan over
  all persons that the snapshot replaces;
- one month's statistics snapshot job (``snapshot_take``);
- a department feed of ``--feed-rows`` social-insurance rows through the sync pipeline.

Printed: one table per figure with the value at each size, the load average beside it, and the
ratio of the figure to the reference size's figure next to the ratio of the sizes. A figure
grows "no faster than the data" when its ratio stays at or under the size ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/bench_scale.py --persons 1000000,5000000 [--feed-rows 1000000]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import statistics
import sys
import time
from urllib.parse import urlsplit

from _setup import admin_connection, database_exists, print_table, server_url, use_database


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure(n: int, args) -> dict[str, tuple]:
    """figure -> (value, unit, load average) for the city at ``n`` persons."""
    name = f"{args.base}_bench_scale_{n}"
    fresh = args.fresh or not database_exists(name)
    if "django.conf" in sys.modules:  # a later size: point the configured connection at it
        from django.core.management import call_command
        from django.db import connections

        connections.close_all()
        with admin_connection() as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        connections["default"].settings_dict["NAME"] = name
        call_command("migrate", verbosity=0)
    else:
        use_database(name, fresh=fresh)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from population.demo import DEMO_CITY
    from population.models import URBAN_CODES, OfficerRegion, Person
    from population.roles import REGISTRATION_OFFICER, SUPERVISOR
    from population.selectors import person_get_by_citizen_id
    from population.statistics import selectors as stats_selectors
    from population.statistics.services import snapshot_take

    out: dict[str, tuple] = {}
    if fresh or Person.objects.count() != n:
        if Person.objects.exists():
            sys.exit(f"{name} holds another city; rerun with --fresh")
        before = load()
        t = time.perf_counter()
        call_command("seed_demo", persons=n, seed=1, city_only=True, verbosity=0)
        took = time.perf_counter() - t
        out["seed, seconds"] = (took, "s", f"{before} → {load()}")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"  seeded {n:,} persons in {took:.0f} s", flush=True)

    rng = random.Random(7)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM population_person")
        max_id = cursor.fetchone()[0]
        ids = [rng.randint(1, max_id) for _ in range(args.lookups)]
        cursor.execute("SELECT citizen_id FROM population_person WHERE id = ANY(%s)", [ids])
        numbers = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT substr(hukou_region_id, 1, 9), count(*) FROM population_person"
            " WHERE hukou_region_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        )
        township, _ = cursor.fetchone()
    county = township[:6]

    before = load()
    it = iter(numbers * 2)
    samples = timed(lambda: person_get_by_citizen_id(citizen_id=next(it)), len(numbers) - 1)
    where = f"{before} → {load()}"
    out["person lookup p50, ms"] = (statistics.median(samples) * 1000, "ms", where)
    out["person lookup p99, ms"] = (p(samples, 0.99) * 1000, "ms", where)

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    for label, role, prefix in (
        ("officer list page, busiest township, ms", REGISTRATION_OFFICER, township),
        ("supervisor list page, its county, ms", SUPERVISOR, county),
    ):
        user, _ = User.objects.get_or_create(username=f"bench_{role}", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name=role))
        OfficerRegion.objects.get_or_create(user=user, region_id=prefix.ljust(12, "0"))
        client = Client()
        client.force_login(user)

        def page(client=client):
            response = client.get("/admin/population/person/")
            assert response.status_code == 200, response.status_code
            return response

        text = page().content.decode()
        match = re.search(r'<p class="paginator">.*?(\d[\d,]*)\s*(?:个|条|位|人)', text, re.S)
        shown = match.group(1) if match else "?"
        before = load()
        samples = timed(page, args.repeat)
        out[label] = (
            statistics.median(samples) * 1000,
            "ms",
            f"{before} → {load()}",
            f"{prefix}: {shown} persons counted",
        )

    month = timezone.localdate().strftime("%Y-%m")
    before = load()
    t = time.perf_counter()
    snapshot_take(month=month)
    out["monthly snapshot job, s"] = (time.perf_counter() - t, "s", f"{before} → {load()}")
    city = DEMO_CITY.ljust(12, "0")

    def report():
        stats_selectors.urbanization(region_code=city, month=month)
        stats_selectors.urbanization_by_area(region_code=city, month=month)

    def scan():
        from bench_stats import SCAN_SQL

        with connection.cursor() as cursor:
            cursor.execute(
                SCAN_SQL, {"year": timezone.localdate().year, "urban": sorted(URBAN_CODES)}
            )
            cursor.fetchall()

    before = load()
    samples = timed(report, args.repeat)
    out["city report from snapshot, ms"] = (
        statistics.median(samples) * 1000,
        "ms",
        f"{before} → {load()}",
    )
    before = load()
    samples = timed(scan, max(3, args.repeat // 5))
    out["raw scan (what the snapshot replaces), ms"] = (
        statistics.median(samples) * 1000,
        "ms",
        f"{before} → {load()}",
    )

    if args.feed_rows:
        from population.sync import services
        from population.sync.samples import sample_feed, sample_persons

        settings.CELERY_TASK_ALWAYS_EAGER = True
        persons = sample_persons(limit=min(n, args.feed_rows))
        # A new seed each run: a file received before is answered with its earlier batch
        # (nothing loaded), which would time the duplicate check instead of the feed.
        feed = sample_feed(
            kind="social_insurance", persons=persons, rows=args.feed_rows, seed=time.time_ns()
        )
        before = load()
        t = time.perf_counter()
        batch = services.batch_receive(
            department="hrss", content=feed.content, filename="social_insurance_scale.csv",
            fmt="csv", source="command", enqueue=False,
        )  # fmt: skip
        services.batch_process(batch_id=batch.pk)
        took = time.perf_counter() - t
        out[f"feed of {args.feed_rows:,} rows, rows/s"] = (
            args.feed_rows / took,
            "rows/s",
            f"{before} → {load()}",
        )
        # The next run loads the same feed again into a database that already holds it.
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM population_fact WHERE batch_id = %s", [batch.pk])
    from django.db import connections

    connections.close_all()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--persons",
        default="1000000,5000000",
        help="comma-separated sizes; the first is the reference (default 1000000,5000000)",
    )
    parser.add_argument("--lookups", type=int, default=2000, help="person lookups per size")
    parser.add_argument("--repeat", type=int, default=20, help="requests per list page figure")
    parser.add_argument(
        "--feed-rows", type=int, default=1_000_000, help="rows of the feed (0: no feed)"
    )
    parser.add_argument("--fresh", action="store_true", help="drop and reseed every size")
    parser.add_argument("--drop", action="store_true", help="drop the scratch databases after")
    args = parser.parse_args()
    sizes = [int(s) for s in args.persons.split(",") if s.strip()]
    if not sizes or min(sizes) < 1000:
        parser.error("--persons: comma-separated sizes of at least 1000")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Named after the configured database once: selecting a size changes DATABASE_URL.
    args.base = urlsplit(server_url()).path.lstrip("/") or "popbase"
    logging.disable(logging.INFO)  # request and login lines would drown the table

    results = {}
    for n in sizes:
        print(f"size {n:,} (load average {load()})", flush=True)
        results[n] = measure(n, args)
    ref = sizes[0]
    labels = list(dict.fromkeys(k for r in results.values() for k in r))
    rows = []
    for label in labels:
        for n in sizes:
            if label not in results[n]:
                continue
            value, unit, where, *detail = results[n][label]
            ref_value = results[ref].get(label, (None,))[0]
            # rows/s is a rate: its cost ratio is the inverse.
            if ref_value:
                cost = ref_value / value if unit == "rows/s" else value / ref_value
                ratio = f"{cost:.2f}"
            else:
                ratio = ""
            fmt = f"{value:,.0f}" if unit in ("rows/s",) or value >= 100 else f"{value:.2f}"
            rows.append([label, f"{n:,}", fmt, ratio, f"{n / ref:.1f}", where, "".join(detail)])
    print_table(
        f"popbase at {', '.join(f'{n:,}' for n in sizes)} persons "
        f"(cost ratio to {ref:,}; growth no faster than the data when cost ratio <= size ratio)",
        ["figure", "persons", "value", "cost ratio", "size ratio", "load avg", "note"],
        rows,
    )
    if args.drop:
        with admin_connection() as conn:
            for n in sizes:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.base}_bench_scale_{n}" WITH (FORCE)')


if __name__ == "__main__":
    main()
