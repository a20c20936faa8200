"""A scratch PostgreSQL primary and a streaming standby on this machine.

Used by the replica tests (a session fixture) and by ``make replica`` for people. Debian's
PostgreSQL binaries (``PG_BIN``, default ``/usr/lib/postgresql/15/bin``): ``initdb`` a primary
in a temporary folder (trust authentication, replication allowed from 127.0.0.1 only), start it
on a free port, ``pg_basebackup -R`` a standby from it, start that on another free port, and wait
until the primary reports it streaming. Nothing of the system cluster is read or changed.

PostgreSQL refuses to run as root: as root the binaries run as the ``postgres`` system user
(Debian's packages create it), or, without one, as a ``pgserver`` system user created for it as
the embedded quickstart server does.

    python -m config.replica_pair          # start a pair, print the settings, stop on Ctrl-C
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The unprivileged user to run the binaries as, when this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["/usr/sbin/useradd", "--system", "--create-home", "--shell", "/bin/bash", "pgserver"],
        check=True,
    )
    return "pgserver"


def pg_bin_for(major: int) -> Path:
    """A folder of PostgreSQL binaries of this major version: Debian's, or the embedded
    server's (the pgserver wheel ships pg_basebackup and pg_dump too)."""
    candidates = [PG_BIN, Path(f"/usr/lib/postgresql/{major}/bin")]
    spec = importlib.util.find_spec("pgserver")  # located, not imported (it warns on import)
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for folder in candidates:
        postgres = folder / "postgres"
        if postgres.exists():
            version = subprocess.run(  # noqa: S603 - a PostgreSQL binary
                [str(postgres), "--version"], capture_output=True, text=True
            ).stdout
            if version.split()[-1].split(".")[0] == str(major):
                return folder
    raise RuntimeError(f"no PostgreSQL {major} binaries (looked in {candidates})")


@dataclass
class ReplicaPair:
    """A running primary and standby; ``stop()`` ends both and removes their folder."""

    root: Path
    user: str | None
    bin: Path = PG_BIN
    primary_port: int = 0
    standby_port: int = 0
    _started: list[Path] = field(default_factory=list)

    # -- commands ------------------------------------------------------------------------------
    def _cmd(self, *args: str | Path) -> list[str]:
        cmd = [str(a) for a in args]
        return ["/usr/sbin/runuser", "-u", self.user, "--", *cmd] if self.user else cmd

    def _run(self, *args: str | Path) -> None:
        result = subprocess.run(  # noqa: S603 - the PostgreSQL binaries, our arguments
            self._cmd(*args), capture_output=True, text=True, cwd=self.root
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stderr.strip()}")

    # -- addresses -----------------------------------------------------------------------------
    def url(self, which: str, dbname: str = "postgres") -> str:
        port = self.primary_port if which == "primary" else self.standby_port
        return f"postgres://postgres@127.0.0.1:{port}/{dbname}"

    def connect(self, which: str, dbname: str = "postgres", **kw) -> psycopg.Connection:
        port = self.primary_port if which == "primary" else self.standby_port
        return psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=5, **kw
        )

    # -- life ----------------------------------------------------------------------------------
    def _start(self, data: Path, log: Path) -> None:
        self._run(self.bin / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start")
        self._started.append(data)

    def start(self, prepare=None) -> ReplicaPair:
        """Start the primary, run ``prepare(pair)`` on it (load a schema, say), then take the
        standby from it, so the standby starts with whatever ``prepare`` wrote."""
        primary, standby = self.root / "primary", self.root / "standby"
        self._run(
            self.bin / "initdb",
            "-D",
            primary,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.primary_port, self.standby_port = _free_port(), _free_port()
        conf = (
            f"port = {self.primary_port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\n"
            "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
            "hot_standby_feedback = on\n"
            # A scratch pair: durability is not wanted, speed is.
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "shared_buffers = 32MB\nmax_connections = 40\n"
        )
        with open(primary / "postgresql.conf", "a") as f:
            f.write(conf)
        with open(primary / "pg_hba.conf", "a") as f:
            f.write("host replication all 127.0.0.1/32 trust\n")
        self._start(primary, self.root / "primary.log")
        if prepare is not None:
            prepare(self)
        self._run(
            self.bin / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-D",
            standby,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        with open(standby / "postgresql.conf", "a") as f:
            f.write(f"port = {self.standby_port}\n")
        self._start(standby, self.root / "standby.log")
        self.wait_streaming()
        return self

    def wait_streaming(self, timeout: float = START_TIMEOUT) -> None:
        """Until the primary sees the standby streaming and the standby is in recovery."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(psycopg.OperationalError):
                with self.connect("primary", autocommit=True) as p:
                    streaming = p.execute(
                        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                    ).fetchone()[0]
                with self.connect("standby", autocommit=True) as s:
                    recovering = s.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                if streaming and recovering:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby did not start streaming within {timeout:.0f} s")
            time.sleep(0.1)

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with self.connect("primary", autocommit=True) as p:
            target = p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with self.connect("standby", autocommit=True) as s:
            while not s.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
            ).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the standby did not catch up")
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop both servers (immediately: nothing in them is kept) and remove the folder."""
        for data in reversed(self._started):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError):
                    self._run(self.bin / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        self._started.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def replica_pair_start(
    parent: str | None = None, *, bin_dir: Path | None = None, prepare=None
) -> ReplicaPair:
    """Start a pair in a new temporary folder; on any failure nothing is left running."""
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="popbase-replica-", dir=parent))
    if user:
        info = pwd.getpwnam(user)
        os.chown(root, info.pw_uid, info.pw_gid)
    pair = ReplicaPair(root=root, user=user, bin=bin_dir or PG_BIN)
    try:
        return pair.start(prepare)
    except BaseException:
        pair.stop()
        raise


def main() -> None:
    pair = replica_pair_start()
    stop = False

    def _stop(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with pair.connect("primary", autocommit=True) as p:
            p.execute("CREATE DATABASE popbase")
        pair.wait_replayed()
        print(
            "A primary and a streaming standby are running (stop with Ctrl-C):\n"
            f"  export DATABASE_URL={pair.url('primary', 'popbase')}\n"
            f"  export DATABASE_REPLICA_URLS={pair.url('standby', 'popbase')}\n"
            f"  data and logs: {pair.root}",
            flush=True,
        )
        while not stop:
            time.sleep(0.5)
    finally:
        pair.stop()
        print("stopped; folder removed", file=sys.stderr)


if __name__ == "__main__":
    main()
