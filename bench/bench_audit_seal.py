"""The access-log sealer's throughput (goal from issue 14: keeps up with 5,000 rows/s).

Each round writes N unsealed rows (what requests leave: one person, four fields) in one fast
SQL statement, then times, on the same backlog:

- baseline: one ``INSERT … SELECT`` that gives every unsealed row a sequence number into a
  narrow scratch table and computes nothing: the floor of reading N rows and writing N small
  ones in PostgreSQL;
- the project: ``access_log_seal`` (HMAC per row, chain, per-person index, signed checkpoint
  per batch of AUDIT_SEAL_BATCH, checkpoint file), HMAC-SHA-256 and HMAC-SM3.

Rounds alternate, and each figure is printed with the 1-minute load average taken when it was
measured. Uses ``<your database>_seal_bench`` on the configured server (created and migrated;
``--fresh`` recreates it).

    python bench/bench_audit_seal.py [--rows 50000] [--rounds 2] [--profile]
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
            " fields, client, prev_hash, row_hash)"
            " SELECT %s, 'api:bench', 'api.persons', 'social_insurance 社会保险经办', ARRAY[g],"
            " ARRAY['name', 'sex', 'birth_date', 'hukou_region'], '127.0.0.1', '', ''"
            " FROM generate_series(1, %s) g",
            [timezone.now(), rows],
        )
        cursor.execute("ANALYZE population_accesslog")


def filler(rows: int) -> None:
    """An older log of ``rows`` sealed-looking rows (negative sequence numbers, outside the
    chain the rounds build), so indexes have the size of a log in use; written once."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM population_accesslog WHERE seq < 0")
        have = cursor.fetchone()[0]
        if have >= rows:
            return
        cursor.execute(
            "INSERT INTO population_accesslog (at, username, channel, purpose, person_ids,"
            " fields, client, seq, prev_hash, row_hash)"
            " SELECT now() - g * interval '1 second', 'api:bench', 'api.persons', 'p',"
            " ARRAY[g %% 1000000], ARRAY['name', 'sex'], '127.0.0.1', -g - %s, '', md5(g::text)"
            " FROM generate_series(1, %s) g",
            [have, rows - have],
        )


def storage_compare(rows: int, batch: int) -> list[list[str]]:
    """Database side only, same backlog, hashes precomputed: chaining by rewriting the log rows
    (UPDATE … FROM unnest, as the sealer does) against inserting narrow chain rows (seq, row
    id, hash) into a table of their own. Both rolled back."""
    from django.db import connection, transaction

    from population.audit import UNSEALED_SQL

    out = []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM population_accesslog WHERE {UNSEALED_SQL} ORDER BY id")
        ids = [r[0] for r in cursor.fetchall()][:rows]
    hashes = [f"{i:064x}" for i in ids]
    far = 10**15  # sequence numbers no chain reaches (both variants roll back)
    for label, sql in (
        (
            "UPDATE the wide log rows (seq, prev_hash, row_hash)",
            "UPDATE population_accesslog AS a SET seq = v.seq, prev_hash = v.h, row_hash = v.h"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS v(id, seq, h)"
            " WHERE a.id = v.id AND a.seq IS NULL",
        ),
        (
            "INSERT narrow chain rows (seq, log id, hash)",
            "INSERT INTO bench_seal (seq, log_id, row_hash)"
            " SELECT v.seq, v.id, v.h FROM unnest(%s::bigint[], %s::bigint[], %s::text[])"
            " AS v(id, seq, h)",
        ),
    ):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS bench_seal (seq bigint PRIMARY KEY,"
                    " log_id bigint NOT NULL UNIQUE, row_hash varchar(64) NOT NULL)"
                )
                started = time.perf_counter()
                for k in range(0, len(ids), batch):
                    part = ids[k : k + batch]
                    seqs = list(range(far + k, far + k + len(part)))
                    cursor.execute(sql, [part, seqs, hashes[k : k + batch]])
                elapsed = time.perf_counter() - started
                raise _Rollback
        except _Rollback:
            pass
        out.append([label, f"{len(ids) / elapsed:,.0f}", "", load_average()])
    return out


class _Rollback(Exception):
    pass


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
    backlog(args.rows)
    table += storage_compare(args.rows, settings.AUDIT_SEAL_BATCH)
    access_log_seal()
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
    print_table(
        f"audit sealer, {args.rows:,} unsealed rows per round (goal >= {GOAL:,} rows/s)",
        ["run", "rows/s", "ratio to goal", "load"],
        table,
    )


if __name__ == "__main__":
    main()
