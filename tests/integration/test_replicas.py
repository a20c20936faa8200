"""Reads on a real streaming standby (population/db_router.py).

One scratch primary and standby for the session (config/replica_pair.py): the primary gets a
copy of the migrated test database, the standby is taken from it and streams. Each scenario
runs popbase in a subprocess with the primary as DATABASE_URL and the standby as
DATABASE_REPLICA_URLS, and reports which server answered (pg_is_in_recovery() on the
connection that ran the query).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from config.replica_pair import pg_bin_for, replica_pair_start

ROOT = Path(__file__).resolve().parents[2]
# One worker runs every test here, so the session starts one pair; the test database is
# needed (its copy seeds the primary).
pytestmark = [pytest.mark.xdist_group("replica_pair"), pytest.mark.django_db]


def _dump_args(bin_dir: Path, settings: dict, out: Path) -> list[str]:
    args = [str(bin_dir / "pg_dump"), "-Fc", "-f", str(out), "-d", settings["NAME"]]
    args += ["-h", settings["HOST"] or "127.0.0.1", "-U", settings["USER"]]
    if settings["PORT"]:
        args += ["-p", str(settings["PORT"])]
    return args


@pytest.fixture(scope="session")
def replica_pair(django_db_setup, django_db_blocker, tmp_path_factory):
    """A primary holding the test database's schema and data, and its streaming standby."""
    with django_db_blocker.unblock():
        connection.ensure_connection()
        major = connection.pg_version // 10000
        settings = dict(connection.settings_dict)
    bin_dir = pg_bin_for(major)
    dump = tmp_path_factory.mktemp("replica") / "test.dump"
    env = {**os.environ, "PGPASSWORD": settings["PASSWORD"] or ""}
    subprocess.run(_dump_args(bin_dir, settings, dump), check=True, env=env)  # noqa: S603

    def prepare(pair):
        with pair.connect("primary", autocommit=True) as p:
            p.execute("CREATE DATABASE popbase")
        subprocess.run(  # noqa: S603 - a PostgreSQL binary, our arguments
            [
                str(bin_dir / "pg_restore"),
                "--no-owner",
                "-d",
                pair.url("primary", "popbase"),
                str(dump),
            ],
            check=True,
            capture_output=True,
        )

    pair = replica_pair_start(bin_dir=bin_dir, prepare=prepare)
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def driven(replica_pair) -> dict:
    """Every scenario of tests/integration/replica_driver.py, in one run of popbase with the
    primary as DATABASE_URL and the standby as its replica (lag limit 1 s, checked afresh)."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}} | {
        "DATABASE_URL": replica_pair.url("primary", "popbase"),
        "DATABASE_REPLICA_URLS": replica_pair.url("standby", "popbase"),
        "REPLICA_MAX_LAG_SECONDS": "1",
        "REPLICA_LAG_CHECK_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
        "ALLOWED_HOSTS": "testserver",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.replica_driver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_pair_streams_and_the_standby_is_read_only(replica_pair):
    with replica_pair.connect("standby", "popbase", autocommit=True) as s:
        assert s.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(Exception, match="read-only transaction"):
            s.execute("CREATE TABLE never_here (id int)")
    with replica_pair.connect("primary", autocommit=True) as p:
        states = p.execute("SELECT state FROM pg_stat_replication").fetchall()
    assert states == [("streaming",)]


def test_an_api_lookup_is_answered_by_the_standby_and_its_access_log_written_on_the_primary(
    driven,
):
    out = driven["lookup"]

    assert out["status"] == 200, out
    assert out["name"] == "副本测试"
    assert out["person_read_on"] == ["replica1"]
    assert out["person_read_in_recovery"] == [True]
    # Nothing but reads reached the standby; the access-log row is on the primary.
    assert out["writes_on"] == ["default"]
    assert out["access_log_rows_on_primary"] == 1


def test_a_read_after_a_write_goes_to_the_primary_and_other_pages_never_use_the_replica(driven):
    out = driven["pin"]

    assert out["first_read_on"] == ["replica1"]
    assert out["read_after_orm_write_on"] == ["default"]
    assert out["read_after_raw_write_on"] == ["default"]
    assert out["admin_read_on"] == ["default"]
    assert out["outside_request_on"] == ["default"]


def test_a_paused_standby_past_the_lag_limit_is_skipped(driven):
    out = driven["paused"]["while_paused"]

    # The standby has not even replayed the new person: answered by the primary.
    assert out["status"] == 200, out
    assert out["person_read_on"] == ["default"]
    assert out["person_read_in_recovery"] == [False]
    # Resumed and caught up, the same standby serves again.
    again = driven["paused"]["resumed"]
    assert again["status"] == 200
    assert again["person_read_in_recovery"] == [True]
