"""Backups with PostgreSQL's own tools: continuous WAL archiving plus base backups, and a
point-in-time restore into a new cluster that is then verified.

Layout of ``BACKUP_DIR``::

    wal/                       WAL segments from archive_command (deploy/bin/popbase-archive-wal)
    base/<UTC time>/           one pg_basebackup (plain format, checked by pg_verifybackup)
    base/<UTC time>.popbase-backup.json   written last: marks a finished backup; beside the
                               folder (pg_basebackup makes it 0700) so /health/ can read it

A restore copies the newest base backup that finished before the target time into a new data
folder, replays the archived WAL up to that time and promotes the copy; the running cluster is
never touched. ``verify_restored`` then counts the rows, verifies the audit chain against the
signed checkpoint files (those up to the restored chain's end: a restore to an earlier time has
legitimately fewer) and, if asked, recounts a month of statistics.

Why not pgBackRest: popbase runs on one server with one backup folder, and these are the
documented PostgreSQL primitives with no other daemon, configuration or package, so the same
code runs in the tests on this machine's PostgreSQL 15 binaries. pgBackRest (in Debian) is the
better tool for a large database (parallel, compressed, delta restores) or a remote/encrypted
repository; docs/operations.md says how to switch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

MARKER = ".popbase-backup.json"
_START_WAL = re.compile(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)")
BASE_DIR = Path(__file__).resolve().parent.parent


class BackupError(Exception):
    """A backup or restore step failed; the message says which and why (Chinese / English)."""


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    started_at: dt.datetime
    finished_at: dt.datetime
    start_wal: str

    @classmethod
    def read(cls, path: Path) -> BaseBackup:
        info = json.loads(marker_of(path).read_text())
        return cls(
            path=path,
            started_at=dt.datetime.fromisoformat(info["started_at"]),
            finished_at=dt.datetime.fromisoformat(info["finished_at"]),
            start_wal=info["start_wal"],
        )


def marker_of(path: Path) -> Path:
    return path.parent / f"{path.name}{MARKER}"


# --- tools --------------------------------------------------------------------------------


def pg_bin_dir() -> Path:
    """``POSTGRES_BIN_DIR``, else the newest /usr/lib/postgresql/<N>/bin, else PATH's, else
    the pgserver wheel's (the quickstart's embedded PostgreSQL 16)."""
    if settings.POSTGRES_BIN_DIR:
        return Path(settings.POSTGRES_BIN_DIR)
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    if versions:
        return versions[-1]
    found = shutil.which("pg_ctl")
    if not found:
        # The quickstart's embedded server (the pgserver wheel) ships the same programs.
        spec = importlib.util.find_spec("pgserver")
        bundled = Path(spec.origin).parent / "pginstall" / "bin" if spec and spec.origin else None
        if bundled and (bundled / "pg_ctl").exists():
            return bundled
        raise BackupError(
            "找不到 PostgreSQL 程序 / PostgreSQL binaries not found (POSTGRES_BIN_DIR)"
        )
    return Path(found).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run a server as root: as root, run server tools as ``postgres``."""
    if os.geteuid() == 0 and Path(cmd[0]).name in {"initdb", "pg_ctl", "postgres"}:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def run(cmd: list[str], *, timeout: float = 3600, env: dict | None = None) -> str:
    done = subprocess.run(  # noqa: S603
        _as_postgres([str(c) for c in cmd]),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(
            f"{Path(str(cmd[0])).name} 失败 / failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return done.stdout


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        run(["chown", "-R", "postgres:postgres", path])


# --- base backups -------------------------------------------------------------------------


def backup_dir() -> Path | None:
    return Path(settings.BACKUP_DIR) if settings.BACKUP_DIR else None


def base_backups(folder: Path | None = None) -> list[BaseBackup]:
    """Finished base backups, oldest first."""
    folder = folder or backup_dir()
    if folder is None or not (folder / "base").is_dir():
        return []
    found = []
    for marker in (folder / "base").glob(f"*{MARKER}"):
        path = marker.parent / marker.name[: -len(MARKER)]
        if path.is_dir():
            try:
                found.append(BaseBackup.read(path))
            except (ValueError, KeyError):
                continue
    return sorted(found, key=lambda b: b.finished_at)


def latest_base_backup(folder: Path | None = None) -> BaseBackup | None:
    backups = base_backups(folder)
    return backups[-1] if backups else None


def base_backup_take(database_url: str, folder: Path, *, bin_dir: Path | None = None) -> BaseBackup:
    """pg_basebackup (plain format, WAL streamed in, fast checkpoint), checked with
    pg_verifybackup; the marker is written only after both succeeded."""
    bin_dir = bin_dir or pg_bin_dir()
    started = dt.datetime.now(dt.UTC)
    name = started.strftime("%Y%m%dT%H%M%S.%fZ")
    (folder / "base").mkdir(parents=True, exist_ok=True)
    partial = folder / "base" / f".{name}.partial"
    final = folder / "base" / name
    try:
        run(
            [
                bin_dir / "pg_basebackup",
                "--dbname",
                database_url,
                "--pgdata",
                partial,
                "--format=plain",
                "--wal-method=stream",
                "--checkpoint=fast",
                "--no-password",
                f"--label=popbase {name}",
            ]
        )
        run([bin_dir / "pg_verifybackup", "--quiet", partial])
        label = (partial / "backup_label").read_text()
        match = _START_WAL.search(label)
        if not match:
            raise BackupError("backup_label 无起始 WAL / backup_label names no start WAL")
        finished = dt.datetime.now(dt.UTC)
        partial.rename(final)
        marker_of(final).write_text(
            json.dumps(
                {
                    "started_at": started.isoformat(),
                    "finished_at": finished.isoformat(),
                    "start_wal": match.group(1),
                }
            )
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    return BaseBackup.read(final)


def backups_prune(folder: Path, *, keep: int, bin_dir: Path | None = None) -> list[Path]:
    """Keep the newest ``keep`` base backups; drop older ones and the WAL only they needed."""
    if keep < 1:
        raise BackupError("至少保留一份基础备份 / keep at least one base backup")
    backups = base_backups(folder)
    removed = []
    for old in backups[:-keep]:
        marker_of(old.path).unlink()
        shutil.rmtree(old.path)
        removed.append(old.path)
    kept = backups[-keep:]
    wal = folder / "wal"
    if kept and wal.is_dir():
        run([(bin_dir or pg_bin_dir()) / "pg_archivecleanup", wal, kept[0].start_wal])
    for stale in (folder / "base").glob(".*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    return removed


# --- restore --------------------------------------------------------------------------------


@dataclass
class RestoredCluster:
    data_dir: Path
    port: int
    base: BaseBackup
    target_time: dt.datetime | None

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def url(self, database: str) -> str:
        return f"postgres://postgres@{quote(str(self.socket_dir), safe='')}:{self.port}/{database}"

    def stop(self, bin_dir: Path | None = None) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            run(
                [(bin_dir or pg_bin_dir()) / "pg_ctl", "-D", self.data_dir, "-m", "fast", "stop"],
                timeout=120,
            )


def _choose_base(folder: Path, target_time: dt.datetime | None) -> BaseBackup:
    backups = base_backups(folder)
    if target_time is not None:
        backups = [b for b in backups if b.finished_at < target_time]
    if not backups:
        raise BackupError(
            "没有早于目标时间完成的基础备份 / no base backup finished before the target time"
        )
    return backups[-1]


def restore_to_time(
    folder: Path,
    data_dir: Path,
    *,
    port: int,
    target_time: dt.datetime | None = None,
    bin_dir: Path | None = None,
    timeout: float = 3600,
) -> RestoredCluster:
    """A new cluster in ``data_dir`` (must not exist or be empty) from the newest suitable base
    backup, WAL replayed to ``target_time`` (or to the end of the archive), promoted, running on
    ``port`` with its socket in ``data_dir``, TCP off, archiving off (it must never write into
    the backup folder it came from)."""
    bin_dir = bin_dir or pg_bin_dir()
    if target_time is not None and target_time.tzinfo is None:
        raise BackupError("目标时间须带时区 / the target time needs a time zone")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"目标目录非空 / the target folder is not empty: {data_dir}")
    base = _choose_base(folder, target_time)
    shutil.copytree(base.path, data_dir, dirs_exist_ok=True)
    (data_dir / "backup_manifest").unlink(missing_ok=True)
    # A Debian cluster keeps its configuration in /etc/postgresql: the copy gets a minimal one.
    if not (data_dir / "postgresql.conf").exists():
        (data_dir / "postgresql.conf").write_text("# written by popbase backup_restore\n")
    # Only the local socket in the private data folder reaches the copy.
    (data_dir / "pg_hba.conf").write_text("local all all trust\nlocal replication all trust\n")
    (data_dir / "pg_ident.conf").touch()
    wal = (folder / "wal").resolve()
    settings_lines = {
        "port": str(port),
        "listen_addresses": "''",
        "unix_socket_directories": f"'{data_dir.resolve()}'",
        "archive_mode": "off",
        "restore_command": f'\'cp "{wal}/%f" "%p"\'',
        "recovery_target_action": "'promote'",
        "hba_file": f"'{data_dir.resolve() / 'pg_hba.conf'}'",
        "ident_file": f"'{data_dir.resolve() / 'pg_ident.conf'}'",
    }
    if target_time is not None:
        settings_lines["recovery_target_time"] = f"'{target_time.isoformat()}'"
    with (data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# popbase backup_restore\n")
        conf.writelines(f"{k} = {v}\n" for k, v in settings_lines.items())
    (data_dir / "recovery.signal").touch()
    data_dir.chmod(0o700)
    _give_to_postgres(data_dir)
    cluster = RestoredCluster(data_dir=data_dir, port=port, base=base, target_time=target_time)
    log = data_dir / "restore.log"
    try:
        run(
            [bin_dir / "pg_ctl", "-D", data_dir, "-l", log, "-w", "-t", str(int(timeout)), "start"],
            timeout=timeout + 30,
        )
        deadline = time.monotonic() + timeout
        while _in_recovery(bin_dir, cluster):
            if time.monotonic() > deadline:
                raise BackupError("恢复超时 / recovery did not finish in time")
            time.sleep(0.1)
    except BaseException as exc:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        with contextlib.suppress(BackupError):
            cluster.stop(bin_dir)
        if isinstance(exc, BackupError):
            raise BackupError(f"{exc}\n{tail}") from exc
        raise
    return cluster


def _in_recovery(bin_dir: Path, cluster: RestoredCluster) -> bool:
    out = run(
        [
            bin_dir / "psql",
            "-X",
            "-h",
            cluster.socket_dir,
            "-p",
            cluster.port,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-Atc",
            "SELECT pg_is_in_recovery()",
        ],
        timeout=60,
    )
    return out.strip() == "t"


# --- verification of a restored copy --------------------------------------------------------


def _table_counts(url: str) -> dict[str, int]:
    import psycopg
    from django.apps import apps

    tables = sorted({m._meta.db_table for m in apps.get_models() if m._meta.managed})
    counts = {}
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        present = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        for table in tables:
            if table in present:
                counts[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
    return counts


def _libpq(url: str) -> str:
    """dj-database-url's percent-encoded socket host, as libpq understands it."""
    return url.replace("postgres://", "postgresql://", 1)


def _manage(args: list[str], env: dict[str, str], timeout: float = 3600) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=timeout,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def checkpoints_up_to(source: Path, destination: Path, last_seq: int) -> tuple[int, int]:
    """Copy the signed checkpoint lines covering sequence numbers up to ``last_seq``; returns
    (copied, left out because they are later than the restored chain)."""
    destination.mkdir(parents=True, exist_ok=True)
    copied = later = 0
    for path in sorted(source.glob("*.jsonl")) if source.is_dir() else []:
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            if json.loads(line)["last_seq"] <= last_seq:
                kept.append(line + "\n")
                copied += 1
            else:
                later += 1
        if kept:
            (destination / path.name).write_text("".join(kept), encoding="utf-8")
    return copied, later


@dataclass
class Verification:
    counts: dict[str, int]
    audit_ok: bool
    audit_output: str
    checkpoints_copied: int
    checkpoints_later: int
    recount_ok: bool | None = None
    recount_output: str = ""

    @property
    def ok(self) -> bool:
        return self.audit_ok and self.recount_ok is not False


def verify_restored(
    cluster: RestoredCluster,
    *,
    database: str,
    checkpoint_dir: Path,
    recount_month: str | None = None,
) -> Verification:
    """Row counts of every popbase table; ``audit_verify`` in the copy against the signed
    checkpoints up to its chain's end; optionally ``stats_recount`` of one month."""
    import psycopg

    url = cluster.url(database)
    counts = _table_counts(url)
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        last_seq = conn.execute(
            "SELECT coalesce(max(last_seq), 0) FROM population_auditcheckpoint"
        ).fetchone()[0]
    with tempfile.TemporaryDirectory(prefix="popbase-verify-") as scratch:
        copied, later = checkpoints_up_to(
            checkpoint_dir / database, Path(scratch) / database, last_seq
        )
        # Rows unsealed at the target time were younger than the limit then, not now.
        held = settings.AUDIT_SEAL_MAX_DELAY_SECONDS
        if cluster.target_time is not None:
            held += int((dt.datetime.now(dt.UTC) - cluster.target_time).total_seconds()) + 1
        env = {
            "DATABASE_URL": url,
            "AUDIT_CHECKPOINT_DIR": scratch,
            "AUDIT_SEAL_MAX_DELAY_SECONDS": str(held),
        }
        code, output = _manage(["audit_verify"], env)
        result = Verification(
            counts=counts,
            audit_ok=code == 0,
            audit_output=output,
            checkpoints_copied=copied,
            checkpoints_later=later,
        )
        if recount_month:
            code, output = _manage(["stats_recount", "--month", recount_month], env)
            result.recount_ok, result.recount_output = code == 0, output
    return result
