"""Point Django at a scratch benchmark database on the configured PostgreSQL server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def use_scratch_database(name: str, *, fresh: bool) -> str:
    """Create (or reuse) database ``name`` beside the configured one and select it for Django."""
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from config.embedded_db import BASE_DIR, embedded_database_url

        data_dir = Path(os.environ.get("POPBASE_DATA_DIR", BASE_DIR / ".data"))
        base = embedded_database_url(data_dir / "pg")
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(parts._replace(path=f"/{name}"))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _libpq(url: str) -> str:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    host = cfg["HOST"]
    return f"host={host} port={cfg.get('PORT') or 5432} user={cfg['USER']} dbname={cfg['NAME']}" + (
        f" password={cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    )


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
