"""The test database's URL for a subprocess (a worker, a command), from the connection."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def subprocess_database_url() -> str:
    """A TCP host, or the embedded server's socket folder percent-encoded as the host (as
    config.embedded_db writes it): never read from the environment, which the embedded path
    leaves without DATABASE_URL."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    host = quote(s["HOST"] or "127.0.0.1", safe="")
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"
