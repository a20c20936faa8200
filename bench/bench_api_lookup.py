"""The department API under load: gunicorn on loopback, 8 concurrent connections.

Baseline, in the same run, same server, same rows: a bare DRF ``RetrieveAPIView`` of the person
(no key, no scope, no masking, no audit; ``bench/api_bench_urls.py``). Project path: the full
``GET /api/v1/persons/{citizen_id}`` (API key, rate limit in Redis, scope, purpose, field
filter, masking, access-log row), with the audit sealer running beside it as Celery beat would
(every second). Then batch verification of 1,000 pairs
(``POST /api/v1/verifications``) against 1,000 single indexed lookups and one set-based query
in raw SQL. Goal from the issue: at least 1.0x the bare view's throughput, p99 <= 25 ms.
Last, the sealer's own throughput (rows/s; goal >= 5,000) on a backlog of unsealed rows.
Each figure is printed with the 1-minute load average taken when it was measured.

    python bench/bench_api_lookup.py [--persons 1000000] [--seconds 10] [--profile]
                                     [--seal-rows 200000]

Uses REDIS_URL (default: the local Redis, db 0) and a 1M-person database: a copy of the lookup
bench's ``popbase_bench_<N>`` when it exists and is idle, else seeded (minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _setup import ROOT, database_exists, database_url, print_table, use_database

HERE = Path(__file__).resolve().parent
PORT = 8765
WORKERS, THREADS, CONNECTIONS = 2, 4, 8


def prepare(persons: int) -> None:
    name = f"popbase_api_bench_{persons}"
    source = f"popbase_bench_{persons}"
    if database_exists(name):
        use_database(name)
    else:
        try:  # a copy of the lookup bench's city is quicker than seeding one
            use_database(name, template=source) if database_exists(source) else use_database(name)
        except Exception as exc:  # the source is in use by someone: seed our own
            print(f"copy of {source} not possible ({exc.__class__.__name__}); seeding")
            use_database(name)
    from population.demo import seed_demo_city
    from population.models import Person
    from population.regions import regions_load_reference, villages_generate_demo

    if not Person.objects.exists():
        regions_load_reference()
        villages_generate_demo()
        seed_demo_city(persons=persons, seed=7)


def sample_ids(n: int, seed: int = 7) -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM population_person")
        top = cursor.fetchone()[0]
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(n * 2)]
        cursor.execute("SELECT citizen_id, name FROM population_person WHERE id = ANY(%s)", [ids])
        rows = cursor.fetchall()
    random.Random(seed).shuffle(rows)
    return rows[:n]


def make_key() -> str:
    from population.sharing.models import ApiClient
    from population.sharing.scopes import PersonField, endpoint_hook
    from population.sharing.services import api_client_create

    ApiClient.objects.filter(code__startswith="bench-").update(is_active=False)
    _client, key = api_client_create(
        code=f"bench-{int(time.time())}",
        name="压测客户端",
        department="hrss",
        actor=None,
        endpoints=endpoint_hook.keys(),
        person_fields=list(PersonField.values),
        purposes=["social_insurance"],
        rate_limit_per_minute=100_000_000,
    )
    return key


def start_server() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api_bench_settings",
        "PYTHONPATH": f"{HERE}:{ROOT}",
    }
    proc = subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{PORT}",
            f"--workers={WORKERS}",
            "--worker-class=gthread",
            f"--threads={THREADS}",
            "--log-level=warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/schema/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


SEALER_LOOP = """
import time, django
django.setup()
from population.audit import access_log_seal
while True:
    access_log_seal(wait=False)
    time.sleep(1)
"""


def start_sealer(checkpoints: str) -> subprocess.Popen:
    """The beat job's work, every second, in its own process (as a Celery worker would)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "AUDIT_CHECKPOINT_DIR": checkpoints,
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", SEALER_LOOP], env=env, cwd=ROOT, start_new_session=True
    )


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def sealer_throughput(rows: int, checkpoints: str) -> list[list[str]]:
    """Seal a backlog of ``rows`` unsealed rows in batches of AUDIT_SEAL_BATCH; rows/s."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from population.audit import access_log_seal
    from population.models import AccessLog

    settings.AUDIT_CHECKPOINT_DIR = checkpoints
    access_log_seal()  # what the HTTP rounds left
    table = []
    for label, algorithm in (("HMAC-SHA-256", "sha256"), ("HMAC-SM3", "sm3")):
        settings.AUDIT_HMAC_ALGORITHM = algorithm
        with connection.cursor() as cursor:  # the backlog, written fast in SQL
            cursor.execute(
                f"INSERT INTO {AccessLog._meta.db_table} (at, username, channel, purpose,"
                " person_ids, fields, client)"
                " SELECT %s, 'api:bench', 'api.persons', 'social_insurance 社会保险', ARRAY[g],"
                " ARRAY['name', 'sex', 'birth_date', 'hukou_region'], '127.0.0.1'"
                " FROM generate_series(1, %s) g",
                [timezone.now(), rows],
            )
        started = time.perf_counter()
        result = access_log_seal()
        elapsed = time.perf_counter() - started
        table.append(
            [
                f"seal {result.rows:,} rows, {label}, batches of {settings.AUDIT_SEAL_BATCH:,}",
                f"{result.rows / elapsed:,.0f}",
                f"{result.rows / elapsed / 5000:.2f}",
                load_average(),
            ]
        )
    settings.AUDIT_HMAC_ALGORITHM = "sha256"
    return table


async def load(path_for, headers: dict, seconds: float, method="GET", body=None, conns=None):
    """``conns`` clients in a closed loop for ``seconds``: latencies of 2xx answers."""
    conns = conns or CONNECTIONS
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(
        base_url=f"http://127.0.0.1:{PORT}", connector=connector, headers=headers
    ) as session:

        async def worker(w: int) -> None:
            nonlocal errors
            i = w
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.request(method, path_for(i), json=body) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - started)
                i += conns

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(conns)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors, load_average()


def summarise(label, runs, base_rps=None):
    latencies = sorted(x for lat, _e, _err, _load in runs for x in lat)
    elapsed = sum(e for _lat, e, _err, _load in runs)
    errors = sum(err for _lat, _e, err, _load in runs)
    rps = len(latencies) / elapsed
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    row = [
        label,
        f"{len(latencies):,}",
        f"{rps:,.0f}",
        f"{statistics.median(latencies) * 1e3:.1f}",
        f"{p99 * 1e3:.1f}",
        str(errors),
        f"{rps / base_rps:.2f}" if base_rps else "1.00",
        "/".join(load for *_rest, load in runs),
    ]
    return row, rps


def verification_baselines(pairs, repeats: int):
    from django.db import connection

    single, setwise = [], []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for _ in range(repeats):
            t = time.perf_counter()
            for cid, name in pairs:
                raw.execute(
                    "SELECT 1 FROM population_person WHERE citizen_id = %s AND name = %s",
                    [cid, name],
                )
                raw.fetchone()
            single.append(time.perf_counter() - t)
            t = time.perf_counter()
            raw.execute(
                "SELECT q.i FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS q(cid, name, i)"
                " JOIN population_person p ON p.citizen_id = q.cid AND p.name = q.name",
                [[c for c, _ in pairs], [n for _, n in pairs]],
            )
            raw.fetchall()
            setwise.append(time.perf_counter() - t)
    return single, setwise


def profile(pairs, key: str) -> None:
    """cProfile of the full lookup in-process (Django test client), top functions by own time."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client(
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_X_PURPOSE="social_insurance",
        HTTP_HOST="127.0.0.1",
    )
    for cid, _ in pairs[:200]:
        client.get(f"/api/v1/persons/{cid}")
    prof = cProfile.Profile()
    prof.enable()
    for cid, _ in pairs[:2000]:
        client.get(f"/api/v1/persons/{cid}")
    prof.disable()
    print("\nprofile of 2,000 in-process person lookups (top 25 by cumulative time):")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    body = {"items": [{"citizen_id": c, "name": n} for c, n in pairs[:1000]]}
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(10):
        client.post("/api/v1/verifications", body, content_type="application/json")
    prof.disable()
    print("\nprofile of 10 in-process batch verifications of 1,000 pairs (top 25, cumulative):")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round, 2 rounds each")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--seal-rows", type=int, default=200_000, help="sealer backlog size")
    args = parser.parse_args()
    # The rate limit lives in Redis: this machine's, unless REDIS_URL says otherwise.
    os.environ["REDIS_URL"] = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

    prepare(args.persons)
    os.environ["DATABASE_URL"] = database_url(f"popbase_api_bench_{args.persons}")
    ids = sample_ids(20_000)
    key = make_key()
    from django.db import connections

    connections.close_all()
    import tempfile

    checkpoints = tempfile.mkdtemp(prefix="popbase-bench-checkpoints-")
    server = start_server()
    sealer = start_sealer(checkpoints)
    try:
        numbers = [cid for cid, _ in ids]
        api_headers = {"Authorization": f"Api-Key {key}", "X-Purpose": "social_insurance"}
        bare, full = [], []
        asyncio.run(load(lambda i: f"/bench/bare/persons/{numbers[i % 500]}", {}, 2))  # warm up
        asyncio.run(load(lambda i: f"/api/v1/persons/{numbers[i % 500]}", api_headers, 2))

        def bare_path(i: int) -> str:
            return f"/bench/bare/persons/{numbers[i % len(numbers)]}"

        def api_path(i: int) -> str:
            return f"/api/v1/persons/{numbers[i % len(numbers)]}"

        for _ in range(2):  # interleaved rounds share any drift fairly
            bare.append(asyncio.run(load(bare_path, {}, args.seconds)))
            full.append(asyncio.run(load(api_path, api_headers, args.seconds)))
        base_row, base_rps = summarise("bare DRF RetrieveAPIView (baseline)", bare)
        full_row, _ = summarise("GET /api/v1/persons/{id} (full)", full, base_rps)
        print_table(
            f"person lookup over HTTP: gunicorn {WORKERS}x{THREADS} gthread, {CONNECTIONS} "
            f"connections, {args.persons:,} persons; goal >= 1.00x and p99 <= 25 ms",
            ["path", "requests", "req/s", "median ms", "p99 ms", "errors", "ratio", "load"],
            [base_row, full_row],
        )
        from population.models import AccessLogPending

        print(
            f"access-log rows still unsealed after the rounds: "
            f"{AccessLogPending.objects.count():,} (sealer running every second)"
        )

        pairs = ids[:1000]
        body = {"items": [{"citizen_id": c, "name": n} for c, n in pairs]}
        # One caller, like the baselines: latency of one batch, not of a queue of them.
        batch = asyncio.run(
            load(lambda i: "/api/v1/verifications", api_headers, args.seconds, "POST", body, 1)
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        single, setwise = verification_baselines(pairs, repeats=5)
        batch_lat = sorted(batch[0])
        batch_load = batch[3]
        base = statistics.median(single)
        rows = [
            ["1,000 single indexed lookups, raw SQL (baseline)", f"{base * 1e3:.1f}", "1.00"],
            [
                "one set-based query, raw SQL",
                f"{statistics.median(setwise) * 1e3:.1f}",
                f"{statistics.median(setwise) / base:.2f}",
            ],
            [
                f"POST /api/v1/verifications, 1,000 pairs, HTTP ({len(batch_lat)} calls)",
                f"{statistics.median(batch_lat) * 1e3:.1f}",
                f"{statistics.median(batch_lat) / base:.2f}",
            ],
        ]
        print_table(
            "batch verification of 1,000 pairs (median ms per 1,000; ratio of time, lower is "
            "better)",
            ["path", "median ms", "ratio"],
            rows,
        )
        print(f"(load average {batch_load} during the batch calls)")
    finally:
        os.killpg(sealer.pid, signal.SIGTERM)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        sealer.wait(timeout=30)
    print_table(
        "audit sealer throughput (goal >= 5,000 rows/s)",
        ["run", "rows/s", "ratio to goal", "load"],
        sealer_throughput(args.seal_rows, checkpoints),
    )
    if args.profile:
        profile(ids, key)


if __name__ == "__main__":
    main()
