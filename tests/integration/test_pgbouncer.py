"""popbase behind Debian's PgBouncer in transaction mode (`make pgbouncer-deps` installs it).

A PgBouncer of the test's own (config in a temporary folder, a free port, transaction pooling,
two server connections) in front of the test database; popbase runs in a subprocess with
DATABASE_URL pointing at PgBouncer, DATABASE_POOLED=1 and DATABASE_DIRECT_URL at PostgreSQL.
The subprocess answers a department API lookup and runs the jobs that hold session advisory
locks; afterwards no advisory lock is left on any server session.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.dburl import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup, django_db_blocker):
    """A PgBouncer in transaction mode in front of the test database's server, for the test
    database's runtime role (tests/dburl.py), which is also its admin user."""
    with django_db_blocker.unblock():
        s = dict(connection.settings_dict)
    folder = Path(tempfile.mkdtemp(prefix="popbase-pgbouncer-"))
    port = _free_port()
    (folder / "users.txt").write_text(f'"{s["USER"]}" "{s["PASSWORD"] or ""}"\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"admin_users = {s['USER']}\n"
        "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 50\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
    )
    cmd = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        # As postgres; for the embedded server, as the owner of its socket folder.
        host = s["HOST"] or ""
        info = pwd.getpwuid(os.stat(host).st_uid) if host.startswith("/") else None
        if info is None or info.pw_uid == 0:
            info = pwd.getpwnam("postgres")
        for path in (folder, *folder.iterdir()):
            os.chown(path, info.pw_uid, info.pw_gid)
        cmd = ["/usr/sbin/runuser", "-u", info.pw_name, "--", *cmd]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user=s["USER"], dbname="pgbouncer", autocommit=True
                ):
                    break
            except psycopg.OperationalError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "PgBouncer did not start"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _admin(port: int, command: str) -> list[dict]:
    with psycopg.connect(
        # PgBouncer's admin user is the test's own (the runtime role): see the fixture.
        host="127.0.0.1",
        port=port,
        user=connection.settings_dict["USER"],
        dbname="pgbouncer",
        autocommit=True,
    ) as admin:
        cur = admin.execute(command)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_api_and_the_locking_jobs_run_through_pgbouncer_in_transaction_mode(pgbouncer):
    direct = subprocess_database_url()
    through = direct.replace(direct.split("@", 1)[1].split("/", 1)[0], f"127.0.0.1:{pgbouncer}")
    assert [r["value"] for r in _admin(pgbouncer, "SHOW CONFIG") if r["key"] == "pool_mode"] == [
        "transaction"
    ]
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}},
        "DATABASE_URL": through,
        "DATABASE_POOLED": "1",
        "DATABASE_DIRECT_URL": direct,
        "ALLOWED_HOSTS": "testserver",
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.pgbouncer_driver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])

    assert out["port"] == pgbouncer  # the app's connection was PgBouncer's
    assert out["lookup_status"] == 200, out
    assert out["lookup_name"] == "连接池测试"
    assert out["server_side_cursors_disabled"] is True
    # Each job ran, and a second run while the first holds its lock was refused.
    assert out["permits_daily"] != {"skipped": 1}
    assert out["permits_daily_while_held"] == {"skipped": 1}
    assert out["quality_while_held"] == "run_in_progress"
    assert out["quality_status"] == "done"
    # No advisory lock survives on any server session PgBouncer keeps.
    assert out["advisory_locks_left"] == 0
    pools = [
        p
        for p in _admin(pgbouncer, "SHOW POOLS")
        if p["database"] == connection.settings_dict["NAME"]
    ]
    assert pools and pools[0]["pool_mode"] == "transaction"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert cursor.fetchone()[0] == 0
