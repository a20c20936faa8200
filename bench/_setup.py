"""Point Django at a scratch benchmark database on the configured PostgreSQL server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def server_url() -> str:
    """DATABASE_URL, or the embedded server's URL when it is unset (as the app does)."""
    base = os.environ.get("DATABASE_URL")
    if base:
        return base
    from config.embedded_db import BASE_DIR, embedded_database_url

    data_dir = Path(os.environ.get("POPBASE_DATA_DIR", BASE_DIR / ".data"))
    return embedded_database_url(data_dir / "pg")


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(server_url())._replace(path=f"/{name}"))


def admin_connection():
    """An autocommit connection to the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(database_url("postgres"))
    return psycopg.connect(
        host=cfg["HOST"],
        port=cfg.get("PORT") or 5432,
        user=cfg["USER"],
        password=cfg.get("PASSWORD") or None,
        dbname=cfg["NAME"],
        autocommit=True,
    )


def database_exists(name: str) -> bool:
    with admin_connection() as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def use_database(name: str, *, fresh: bool = False, template: str | None = None) -> None:
    """Create (or reuse) database ``name``, select it for Django, and migrate it."""
    with admin_connection() as conn:
        if fresh or template:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
