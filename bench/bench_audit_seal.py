"""The access-log sealer's throughput (goal from issue 14: keeps up with 5,000 rows/s).

Each round writes N unsealed rows (what requests leave: one person, four fields) in one fast
SQL statement, then times, on the same backlog:

- baseline: one ``INSERT … SELECT`` that gives every unsealed row a sequence number into a
  narrow scratch table and computes nothing: the floor of reading N rows and writing N small
  ones in PostgreSQL;
- the project: ``access_log_seal`` (HMAC per row, chain, per-person index, signed checkpoint
  per batch of AUDIT_SEAL_BATCH, checkpoint file), HMAC-SHA-256 and HMAC-SM3.

First, what the sealer's queue costs a request: single reads logged one by one with the
queue trigger, against the same INSERTs with the trigger switched off (baseline), interleaved.

Rounds alternate, and each figure is printed with the 1-minute load average taken when it was
measured. Uses ``<your database>_seal_bench`` on the configured server (created and migrated;
``--fresh`` recreates it).

    python bench/bench_audit_seal.py [--rows 50000] [--rounds 2] [--writes 4000] [--profile]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from urllib.parse import urlsplit

from _setup import print_table, server_url, use_database

GOAL = 5000


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def backlog(rows: int) -> None:
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO population_accesslog (at, username, channel, purpose, person_ids,"
            " fields, client)"
            " SELECT %s, 'api:bench', 'api.persons', 'social_insurance 社会保险经办', ARRAY[g],"
            " ARRAY['name', 'sex', 'birth_date', 'hukou_region'], '127.0.0.1'"
            " FROM generate_series(1, %s) g",
            [timezone.now(), rows],
        )
        cursor.execute("ANALYZE population_accesslog")


def filler(rows: int) -> None:
    """An older log of ``rows`` rows outside the chain the rounds build (taken out of the
    sealer's queue), so the log's indexes have the size of a log in use; written once."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM population_accesslog a"
            " WHERE NOT EXISTS (SELECT 1 FROM population_accesslogseal s WHERE s.log_id = a.id)"
        )
        have = cursor.fetchone()[0]
        if have >= rows:
            return
        cursor.execute(
            "INSERT INTO population_accesslog (at, username, channel, purpose, person_ids,"
            " fields, client)"
            " SELECT now() - g * interval '1 second', 'api:bench', 'api.persons', 'p',"
            " ARRAY[g %% 1000000], ARRAY['name', 'sex'], '127.0.0.1'"
            " FROM generate_series(1, %s) g",
            [rows - have],
        )
        # Out of the rounds' chain: not queued (the bench's own shortcut, not the app's), and
        # the queue vacuumed as autovacuum would soon do, so its dead entries are not timed.
        cursor.execute("DELETE FROM population_accesslogpending")
        cursor.execute("VACUUM ANALYZE population_accesslogpending")


def request_writes(n: int) -> list[list[str]]:
    """What the queue costs a request: ``n`` single reads logged one by one (autocommit, as a
    request does), with the queue trigger, against the same INSERTs with it switched off on this
    bench database (baseline). Interleaved in blocks of 250."""
    from django.db import connection

    from population.audit import access_log_record

    def block(trigger_on: bool) -> float:
        with connection.cursor() as cursor:
            state = "ENABLE" if trigger_on else "DISABLE"
            cursor.execute(
                f"ALTER TABLE population_accesslog {state} TRIGGER pgtrigger_seal_queue_e0ff2"
            )
        started = time.perf_counter()
        for i in range(250):
            access_log_record(
                user=None, channel="api.persons", purpose="p", person_ids=[i], fields=["name"]
            )
        return time.perf_counter() - started

    spent = {False: 0.0, True: 0.0}
    for _ in range(max(1, n // 500)):
        for trigger_on in (False, True):
            spent[trigger_on] += block(trigger_on)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE population_accesslog ENABLE TRIGGER USER")
    done = max(1, n // 500) * 250
    base = spent[False] / done * 1000
    mine = spent[True] / done * 1000
    return [
        [f"request write, INSERT without the queue trigger (baseline), {done:,} reads",
         f"{base:.3f} ms", "1.00", load_average()],
        [f"request write, access_log_record with the queue trigger, {done:,} reads",
         f"{mine:.3f} ms", f"{mine / base:.2f}", load_average()],
    ]  # fmt: skip


def unsealed_sql() -> str:
    """The sealer's own queue condition (it moves with the implementation)."""
    from population import audit

    return audit.UNSEALED_SQL


def baseline(rows: int) -> float:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS bench_chain (seq bigint, id bigint, h text)"
        )
        cursor.execute("TRUNCATE bench_chain")
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO bench_chain SELECT row_number() OVER (ORDER BY a.id), a.id, ''"
            f" FROM population_accesslog a WHERE {unsealed_sql()}"
        )
        done = cursor.rowcount
        elapsed = time.perf_counter() - started
    assert done == rows, (done, rows)
    return rows / elapsed


def seal(rows: int, algorithm: str, profile: bool) -> float:
    from django.conf import settings

    from population.audit import access_log_seal

    settings.AUDIT_HMAC_ALGORITHM = algorithm
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        result = access_log_seal()
        profiler.disable()
        elapsed = time.perf_counter() - started
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    else:
        started = time.perf_counter()
        result = access_log_seal()
        elapsed = time.perf_counter() - started
    assert result.rows == rows, (result.rows, rows)
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="backlog per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each kind")
    parser.add_argument("--fresh", action="store_true", help="recreate the bench database")
    parser.add_argument("--profile", action="store_true", help="cProfile one SHA-256 seal")
    parser.add_argument("--writes", type=int, default=4000, help="single reads logged")
    parser.add_argument(
        "--filler", type=int, default=500_000, help="older log rows, so indexes have a size"
    )
    args = parser.parse_args()

    base = urlsplit(server_url()).path.lstrip("/") or "popbase"
    use_database(f"{base}_seal_bench", fresh=args.fresh)
    from django.conf import settings

    settings.AUDIT_CHECKPOINT_DIR = tempfile.mkdtemp(prefix="seal-bench-")
    from population.audit import access_log_seal

    access_log_seal()  # whatever an earlier run left
    filler(args.filler)
    table = []
    for round_no in range(args.rounds):
        for label, algorithm in (("HMAC-SHA-256", "sha256"), ("HMAC-SM3", "sm3")):
            backlog(args.rows)
            floor = baseline(args.rows)
            table.append(
                [f"INSERT…SELECT seq numbers, nothing computed (baseline) r{round_no + 1}",
                 f"{floor:,.0f}", "", load_average()]
            )  # fmt: skip
            rate = seal(args.rows, algorithm, args.profile and round_no == 0 and "256" in label)
            table.append(
                [f"access_log_seal, {label}, batches of {settings.AUDIT_SEAL_BATCH:,} "
                 f"r{round_no + 1}", f"{rate:,.0f}", f"{rate / GOAL:.2f}", load_average()]
            )  # fmt: skip
    writes = request_writes(args.writes)
    access_log_seal()
    print_table(
        "the request's write (ms per read logged; ratio to the baseline, lower is better)",
        ["run", "ms/read", "ratio", "load"],
        writes,
    )
    print_table(
        f"audit sealer, {args.rows:,} unsealed rows per round (goal >= {GOAL:,} rows/s)",
        ["run", "rows/s", "ratio to goal", "load"],
        table,
    )


if __name__ == "__main__":
    main()
