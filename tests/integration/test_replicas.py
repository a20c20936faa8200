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
from tests import dburl

ROOT = Path(__file__).resolve().parents[2]
# The test database is needed: its copy seeds the primary.
pytestmark = pytest.mark.django_db


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
        # A copy of the whole database is the superuser's work, not the app's (tests/dburl.py).
        settings = {**connection.settings_dict, **dburl.credentials("superuser")}
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
                # The test roles' grants stay behind: the pair's popbase is its superuser.
                "--no-acl",
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


def test_reads_go_to_the_standby_within_the_lag_limit_and_to_the_primary_otherwise(
    replica_pair, driven
):
    """One test, so that one pair serves every scenario (test workers split tests of a file)."""
    # The pair: the standby streams and refuses writes.
    with replica_pair.connect("standby", "popbase", autocommit=True) as s:
        assert s.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(Exception, match="read-only transaction"):
            s.execute("CREATE TABLE never_here (id int)")
    with replica_pair.connect("primary", autocommit=True) as p:
        states = p.execute("SELECT state FROM pg_stat_replication").fetchall()
    assert states == [("streaming",)]

    # An API lookup is answered by the standby; only reads reach it; the access-log row of
    # the audited read is written on the primary.
    out = driven["lookup"]
    assert out["status"] == 200, out
    assert out["name"] == "副本测试"
    assert out["person_read_on"] == ["replica1"]
    assert out["person_read_in_recovery"] == [True]
    assert out["writes_on"] == ["default"]
    assert out["access_log_rows_on_primary"] == 1

    # A read after a write (ORM or raw SQL) goes to the primary; the access-log row of an
    # audited read does not pin the request; other pages and code outside requests never use
    # the replica.
    pin = driven["pin"]
    assert pin["first_read_on"] == ["replica1"]
    assert pin["read_after_orm_write_on"] == ["default"]
    assert pin["read_after_raw_write_on"] == ["default"]
    assert pin["read_after_access_log_on"] == ["replica1"]
    assert pin["admin_read_on"] == ["default"]
    assert pin["outside_request_on"] == ["default"]

    # A standby paused past the lag limit is skipped: the primary answers (the standby has
    # not even replayed the new person); resumed and caught up, it serves again.
    paused = driven["paused"]["while_paused"]
    assert paused["status"] == 200, paused
    assert paused["person_read_on"] == ["default"]
    assert paused["person_read_in_recovery"] == [False]
    resumed = driven["paused"]["resumed"]
    assert resumed["status"] == 200
    assert resumed["person_read_in_recovery"] == [True]
