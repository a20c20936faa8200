"""Embedded PostgreSQL for the quickstart.

Used only when ``DATABASE_URL`` is unset: a PostgreSQL 16 server from the ``pgserver`` wheel,
kept under ``.data/pg`` and left running between commands so a second ``make run`` is fast and
keeps its data. CI and production always set ``DATABASE_URL``.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import warnings
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a ``postgres://`` URL over its socket."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as on a headless server.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the quickstart needs it

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # Several processes start at once (runserver's reloader and its child, a worker, a shell):
    # pgserver keeps a list of client pids in a JSON file that it rewrites without a lock, and a
    # torn write there stops every later start. One process at a time, under a file lock.
    with open(data_dir.parent / ".pg.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid_list = data_dir / ".handle_pids.json"
        if pid_list.exists():
            # The list only serves pgserver's stop-on-exit, which is off here: start it afresh.
            pid_list.write_text("[]")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data_dir, cleanup_mode=None)
        # With cleanup_mode=None its exit hook only rewrites that list; nothing to stop.
        atexit.unregister(server._cleanup)
        socket_dir = server.get_postmaster_info().socket_dir
        _roles_create(data_dir, socket_dir)
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/postgres"


# The owner and runtime roles of population/db_roles.py, as a deployment has them; `make run`
# grants them (manage.py db_roles). Login over the server's socket needs no password.
EMBEDDED_ROLES = ("popbase_owner", "popbase_app")


def _roles_create(data_dir: Path, socket_dir) -> None:
    """Create the two roles once per data folder (a marker file skips the connection later)."""
    marker = data_dir.parent / ".pg-roles"
    if marker.exists():
        return
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres") as conn:
        for role in EMBEDDED_ROLES:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(f'CREATE ROLE "{role}" LOGIN')
    marker.write_text("\n".join(EMBEDDED_ROLES) + "\n")


if __name__ == "__main__":
    print(
        embedded_database_url(Path(os.environ.get("POPBASE_DATA_DIR", BASE_DIR / ".data")) / "pg")
    )
