"""The restore drill on this machine's PostgreSQL binaries: a scratch cluster with WAL
archiving (deploy/bin/popbase-archive-wal), a base backup, more rows, a point in time, more
rows; the restore to that time into a new cluster holds exactly the rows before it, and its
access-log chain verifies against the signed checkpoints (and a tampered row does not)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from ops import backup

REPO = Path(__file__).resolve().parents[2]
DATABASE = "popbase_drill"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _audit_schema_sql() -> list[str]:
    """The access log's, its chain's and checkpoints' tables as this code defines them."""
    from population.models import (
        AccessLog,
        AccessLogPending,
        AccessLogPerson,
        AccessLogSeal,
        AuditCheckpoint,
        AuditVerification,
    )

    models = (AccessLogPending, AccessLog, AccessLogSeal, AccessLogPerson, AuditCheckpoint,
              AuditVerification)  # fmt: skip
    with connection.schema_editor(collect_sql=True) as editor:
        for model in models:
            editor.create_model(model)
    return editor.collected_sql


class Scratch:
    def __init__(self, root: Path, bin_dir: Path):
        self.root, self.bin = root, bin_dir
        self.data, self.backups = root / "primary", root / "backups"
        self.checkpoints = root / "checkpoints"
        self.port = _free_port()

    def conninfo(self, dbname: str = DATABASE) -> str:
        return f"host={self.data} port={self.port} user=postgres dbname={dbname}"

    def url(self) -> str:
        return f"postgres://postgres@{quote(str(self.data), safe='')}:{self.port}/{DATABASE}"

    def start(self) -> None:
        (self.backups / "wal").mkdir(parents=True)
        self.checkpoints.mkdir()
        archiver = self.root / "popbase-archive-wal"
        shutil.copy(REPO / "deploy/bin/popbase-archive-wal", archiver)
        if os.geteuid() == 0:
            backup.run(["chown", "-R", "postgres:postgres", self.root])
        backup.run([self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-N"])
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = ''\n"
                f"unix_socket_directories = '{self.data}'\n"
                "wal_level = replica\narchive_mode = on\n"
                f"archive_command = '{archiver} %p %f {self.backups / 'wal'}'\n"
                "fsync = off\nshared_buffers = 16MB\nmax_wal_senders = 2\n"
            )
        backup.run(
            [self.bin / "pg_ctl", "-D", self.data, "-l", self.root / "pg.log", "-w", "start"]
        )
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            for statement in _audit_schema_sql():
                conn.execute(statement)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            backup.run([self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "stop"])


@pytest.fixture
def scratch(db):
    bin_dir = backup.pg_bin_dir() if not Path("/usr/lib/postgresql/15/bin").is_dir() else None
    bin_dir = bin_dir or Path("/usr/lib/postgresql/15/bin")
    root = Path(tempfile.mkdtemp(prefix="popbase-drill-"))
    root.chmod(0o755)
    cluster = Scratch(root, bin_dir)
    restored: list[backup.RestoredCluster] = []
    try:
        cluster.start()
        yield cluster, restored
    finally:
        for copy in restored:
            with contextlib.suppress(backup.BackupError):
                copy.stop(bin_dir)
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def _write_reads(cluster: Scratch, n: int, tag: str) -> list[int]:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO population_accesslog"
            " (at, user_id, username, channel, purpose, person_ids, fields, client)"
            " SELECT now(), 1, 'drill', %s, 'restore drill', ARRAY[g::bigint], ARRAY['name'],"
            "  '' FROM generate_series(1, %s) g RETURNING id",
            [tag, n],
        ).fetchall()
    return [r[0] for r in rows]


def _seal(cluster: Scratch) -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(REPO / "manage.py"), "audit_seal"],
        env={
            **os.environ,
            "DATABASE_URL": cluster.url(),
            "AUDIT_CHECKPOINT_DIR": str(cluster.checkpoints),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _archive_current_wal(cluster: Scratch) -> None:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline = time.monotonic() + 30
        while (cluster.backups / "wal" / segment).exists() is False:
            assert time.monotonic() < deadline, "the archiver did not archive the segment"
            time.sleep(0.05)


@pytest.mark.django_db
def test_point_in_time_restore_holds_exactly_the_rows_before_the_target(scratch):
    cluster, restored = scratch
    before_backup = _write_reads(cluster, 5, "a")
    source = f"postgresql://postgres@{quote(str(cluster.data), safe='')}:{cluster.port}/postgres"
    taken = backup.base_backup_take(source, cluster.backups, bin_dir=cluster.bin)
    assert backup.latest_base_backup(cluster.backups) == taken
    after_backup = _write_reads(cluster, 7, "b")
    _seal(cluster)  # rows 1-12, one signed checkpoint
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        target = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    time.sleep(0.05)
    later = _write_reads(cluster, 4, "c")
    _seal(cluster)  # rows 13-16, a second checkpoint the copy must not have
    _archive_current_wal(cluster)

    # A time before the only base backup finished has nothing to start from.
    with pytest.raises(backup.BackupError, match="no base backup finished before"):
        backup.restore_to_time(
            cluster.backups,
            cluster.root / "too-early",
            port=_free_port(),
            target_time=taken.started_at - dt.timedelta(seconds=1),
            bin_dir=cluster.bin,
        )

    copy = backup.restore_to_time(
        cluster.backups,
        cluster.root / "restored",
        port=_free_port(),
        target_time=target,
        bin_dir=cluster.bin,
    )
    restored.append(copy)
    with psycopg.connect(backup._libpq(copy.url(DATABASE)), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM population_accesslog ORDER BY id")]
        seqs = conn.execute("SELECT count(seq), max(seq) FROM population_accesslogseal").fetchone()
        checkpoints = conn.execute("SELECT last_seq FROM population_auditcheckpoint").fetchall()
    assert ids == before_backup + after_backup
    assert not set(ids) & set(later)
    assert seqs == (12, 12)
    assert checkpoints == [(12,)]

    result = backup.verify_restored(copy, database=DATABASE, checkpoint_dir=cluster.checkpoints)
    assert result.audit_ok, result.audit_output
    assert "checked 12 rows, 1 checkpoints" in result.audit_output
    assert (result.checkpoints_copied, result.checkpoints_later) == (1, 1)
    assert result.counts["population_accesslog"] == 12

    # The same check catches a row changed in the copy (past the append-only trigger, as a
    # superuser could).
    with psycopg.connect(backup._libpq(copy.url(DATABASE)), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE population_accesslog SET purpose = 'changed' WHERE id ="
            " (SELECT log_id FROM population_accesslogseal WHERE seq = 3)"
        )
    tampered = backup.verify_restored(copy, database=DATABASE, checkpoint_dir=cluster.checkpoints)
    assert not tampered.audit_ok
    assert "sequence 3" in tampered.audit_output and "altered" in tampered.audit_output

    # Retention: a newer base backup, keep one; the older backup and the WAL only it needed go.
    newer = backup.base_backup_take(source, cluster.backups, bin_dir=cluster.bin)
    removed = backup.backups_prune(cluster.backups, keep=1, bin_dir=cluster.bin)
    assert removed == [taken.path] and not taken.path.exists()
    assert backup.base_backups(cluster.backups) == [newer]
    left = sorted(p.name for p in (cluster.backups / "wal").iterdir() if len(p.name) == 24)
    assert left and left[0] >= newer.start_wal
    assert taken.start_wal < newer.start_wal

    # The commands, as an operator runs them: another base backup, then a restore to the end
    # of the archive (every row), verified.
    out = io.StringIO()
    with override_settings(
        BACKUP_DIR=str(cluster.backups),
        BACKUP_DATABASE_URL=source,
        POSTGRES_BIN_DIR=str(cluster.bin),
        AUDIT_CHECKPOINT_DIR=str(cluster.checkpoints),
    ):
        call_command("backup_base", "--keep", "2", stdout=out)
        assert "base backup done" in out.getvalue()
        assert len(backup.base_backups(cluster.backups)) == 2
        with pytest.raises(CommandError, match="time zone"):
            call_command("backup_restore", "--into", "x", "--time", "2026-12-01T09:00:00")
        call_command(
            "backup_restore",
            "--into",
            str(cluster.root / "latest"),
            "--port",
            str(_free_port()),
            "--database",
            DATABASE,
            stdout=out,
        )
    text = out.getvalue()
    assert '"population_accesslog": 16' in text
    assert "checked 16 rows, 2 checkpoints" in text
    assert "the restored copy verified" in text
    assert not (cluster.root / "latest" / "postmaster.pid").exists()  # stopped afterwards
