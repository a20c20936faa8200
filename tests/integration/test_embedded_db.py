"""The quickstart's embedded PostgreSQL (pgserver): started for real, from several processes.

`make run` starts runserver, whose reloader and child import the settings at the same moment;
a later `make run` must find the same server and data, even after a process was killed while
pgserver was writing its bookkeeping file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
START = (
    "import sys; from pathlib import Path; from config.embedded_db import embedded_database_url;"
    " print(embedded_database_url(Path(sys.argv[1])))"
)


def start(data_dir: Path) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", START, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def query(url: str, *statements: str) -> list[tuple]:
    """Run the statements; the rows of the last one."""
    import dj_database_url

    cfg = dj_database_url.parse(url)
    with psycopg.connect(host=cfg["HOST"], user=cfg["USER"], dbname=cfg["NAME"]) as conn:
        conn.autocommit = True
        for sql in statements:
            cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def data_dir():
    """A data folder outside pytest's temporary tree: pgserver's own user (``pgserver``) must
    traverse every parent, and pytest keeps its per-worker folders private (0700)."""
    root = Path(tempfile.mkdtemp(prefix="popbase-embedded-"))
    root.chmod(0o755)
    path = root / "data" / "pg"
    yield path
    pg_ctl = next(Path(sys.prefix).glob("lib/python*/site-packages/pgserver/pginstall/bin/pg_ctl"))
    subprocess.run(  # noqa: S603
        [
            "/usr/sbin/runuser",
            "-u",
            "pgserver",
            "--",
            str(pg_ctl),
            "-D",
            str(path),
            "-m",
            "immediate",
            "stop",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    shutil.rmtree(root, ignore_errors=True)


def test_simultaneous_starts_share_one_server_and_a_torn_pid_file_does_not_stop_the_next(
    data_dir,
):
    # given four processes starting the embedded server at the same moment
    with ThreadPoolExecutor(4) as pool:
        urls = set(pool.map(lambda _: start(data_dir), range(4)))
    assert len(urls) == 1
    url = urls.pop()
    query(url, "CREATE TABLE kept (n int)", "INSERT INTO kept VALUES (42)")

    # when a killed process left pgserver's pid file half-written
    (data_dir / ".handle_pids.json").write_text("[12, 3")

    # then the next start still finds the same server and its data
    assert start(data_dir) == url
    assert query(url, "SELECT n FROM kept") == [(42,)]


def test_every_migration_applies_on_the_embedded_server(data_dir):
    """The quickstart's server ships no contrib extensions (btree_gist, pg_trgm...): the schema
    must not need them, or `make run` stops at migrate on a new machine."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["POPBASE_DATA_DIR"] = str(data_dir.parent)
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    url = start(data_dir)
    applied = query(url, "SELECT count(*) FROM django_migrations")[0][0]
    assert applied > 50
