"""Registration events on the 1M-person demo city: latency per event next to a bare INSERT.

Runs on a throw-away copy of the lookup bench's database (``popbase_bench_<N>``, made by
``bench_person_lookup.py``), so repeated runs start from the same city. Each sample is one whole
committed transaction. Baseline: a bare single-row INSERT (no index, trigger or constraint)
and commit, through the same connection. Printed: median and p99 latency and the ratio.

    python bench/bench_registry_events.py [--persons 1000000] [--events 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

from _setup import database_exists, drop_database, print_table, use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument(
        "--fresh", action="store_true", help="accepted from run_all: every run uses a fresh copy"
    )
    args = parser.parse_args()

    source = f"popbase_bench_{args.persons}"
    if not database_exists(source):
        sys.exit(f"run bench_person_lookup.py --persons {args.persons} first")
    copy = f"{source}_events"
    started = time.monotonic()
    use_database(copy, template=source)
    copied = time.monotonic() - started
    from django.db import connection, transaction
    from django.utils import timezone

    from population.codes import Relation
    from registry import services
    from registry.models import Household, HouseholdKind, Membership

    # Families with a head and at least one other member, in two different villages.
    households = list(
        Household.objects.filter(kind=HouseholdKind.FAMILY).order_by("id")[: args.events * 2]
    )
    movers = []
    for household in households[: args.events]:
        member = (
            Membership.objects.filter(household=household, end_date__isnull=True)
            .exclude(relation=Relation.HEAD)
            .select_related("person")
            .first()
        )
        if member:
            movers.append((member.person, household))
    targets = households[args.events :]

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (LIKE population_person INCLUDING DEFAULTS)")

    def bare(i: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_bare (id, citizen_id, name, sex, birth_date, ethnicity, status,"
                " created_at, updated_at) VALUES (%s, %s, %s, 1, '2024-01-01', '01', 'active',"
                " now(), now())",
                [i, f"{i:018d}", "基准"],
            )

    def birth(i: int) -> None:
        services.birth_register(
            household=households[i],
            name=f"新生{i}",
            sex=1 + i % 2,
            birth_date=dt.date(2024, 1, 1) + dt.timedelta(days=i % 300),
            relation=Relation.SON if i % 2 == 0 else Relation.DAUGHTER,
            birth_certificate_number=f"BENCH{i:06d}",
            actor=None,
        )

    def move(i: int) -> None:
        person, origin = movers[i % len(movers)]
        services.move_within_city(
            person=person,
            from_household=origin,
            to_household=targets[i % len(targets)],
            relation=Relation.OTHER_RELATIVE,
            on=timezone.localdate(),
            actor=None,
        )

    samples: dict[str, list[float]] = {"bare": [], "birth": [], "move": []}
    n = min(args.events, len(movers), len(targets))
    for i in range(n):  # interleaved, so drift hits all three alike
        for key, fn in (("bare", bare), ("birth", birth), ("move", move)):
            t = time.perf_counter()
            fn(i)
            samples[key].append(time.perf_counter() - t)

    base_median = statistics.median(samples["bare"])
    rows = []
    for label, key in (
        ("bare INSERT + commit (baseline)", "bare"),
        ("出生登记 birth_register", "birth"),
        ("市内迁移 move_within_city", "move"),
    ):
        s = sorted(samples[key])
        median = statistics.median(s)
        rows.append(
            [
                label,
                f"{median * 1e3:.2f}",
                f"{s[int(len(s) * 0.99) - 1] * 1e3:.2f}",
                f"{len(s) / sum(s):,.0f}",
                f"{median / base_median:.1f}",
            ]
        )
    print_table(
        f"registration events on {args.persons:,} persons ({n} each; copy made in {copied:.0f} s)",
        ["event", "median ms", "p99 ms", "events/s", "ratio to bare INSERT"],
        rows,
    )
    drop_database(copy)


if __name__ == "__main__":
    main()
