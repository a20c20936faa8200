"""Who the tests connect as (docs/database-roles.md, "The test suite").

The test suite runs as a deployment does (population/db_roles.py): the test database is created
and migrated by an owner role, then Django's ``default`` connection, the live server and every
subprocess that stands for the app connect as a runtime role with only the grants
``runtime_grants_sql`` gives. ``DATABASE_URL`` (or the embedded server) is the superuser that
creates the two test roles once per server.

Tests that deliberately need more than the app has say so here, in one place:

- ``@pytest.mark.db_role("owner")`` / ``@pytest.mark.db_role("superuser")`` on a test runs its
  whole database connection as that role (tests/conftest.py switches it before the test's
  transaction starts): tampering behind the triggers, DDL, ``ANALYZE``, creating roles;
- ``privileged_connect()`` opens a separate psycopg connection as the superuser (the flush
  between transactional tests, a reset between two runs of a transactional test);
- ``owner_database_url()`` / ``superuser_database_url()`` for a subprocess that must migrate or
  administer, ``subprocess_database_url()`` (the runtime role) for one that stands for the app.
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.db import connection, connections

# Test-only login roles, shared by every test database of the server (roles are cluster-wide,
# grants are per database). The owner may create databases: it creates the test database, so
# it owns it and its public schema (PostgreSQL 15+: the schema belongs to the database owner).
TEST_OWNER = "popbase_test_owner"
TEST_RUNTIME = "popbase_test_app"
ROLES_LOCK = 7_060_915  # one role setup at a time (xdist workers start together)


def both_layers_refuse(trigger_message: str):
    """Parametrize a test's ``refusal`` over who tries to alter an append-only table: the app's
    runtime role, refused by its grants, and the tables' owner (``db_role("owner")``), who passes
    the grants and is refused by the triggers with ``trigger_message``."""
    return pytest.mark.parametrize(
        "refusal",
        [
            pytest.param("permission denied", id="runtime"),
            pytest.param(trigger_message, id="owner", marks=pytest.mark.db_role("owner")),
        ],
    )


# The user and password of DATABASE_URL (or the embedded server), kept before the switch.
_superuser: dict[str, str] = {}
_privileged = None


def superuser_remember() -> None:
    """Keep DATABASE_URL's credentials (once, before any switch)."""
    if not _superuser:
        s = connection.settings_dict
        _superuser.update(USER=s["USER"], PASSWORD=s["PASSWORD"] or "")


def credentials(role: str) -> dict[str, str]:
    """USER and PASSWORD of ``runtime``, ``owner`` or ``superuser``. The test roles have no
    password: the server lets them in as it lets in DATABASE_URL's user from the same host
    (trust, or ~/.pgpass)."""
    superuser_remember()
    return {
        "runtime": {"USER": TEST_RUNTIME, "PASSWORD": ""},
        "owner": {"USER": TEST_OWNER, "PASSWORD": ""},
        "superuser": dict(_superuser),
    }[role]


def _conninfo(role: str, dbname: str | None = None) -> dict:
    s = connection.settings_dict
    user = credentials(role)
    return {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": user["USER"],
        "password": user["PASSWORD"] or None,
        "dbname": dbname or s["NAME"],
    }


def roles_create() -> None:
    """As the superuser, on DATABASE_URL's own database: the two test roles, if missing."""
    import psycopg

    from population.db_roles import quote_role

    with psycopg.connect(**_conninfo("superuser"), autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [ROLES_LOCK])
            for role, attributes in ((TEST_OWNER, "LOGIN CREATEDB"), (TEST_RUNTIME, "LOGIN")):
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                    conn.execute(f"CREATE ROLE {quote_role(role)} {attributes}")


def database_drop_if_not_owned(name: str) -> None:
    """A kept test database (``--reuse-db``) made by another role (before the split) is
    dropped, so the owner creates it afresh."""
    import psycopg

    with psycopg.connect(**_conninfo("superuser", "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if row and row[0] != TEST_OWNER:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def connect_as(role: str) -> None:
    """From the next query on, Django's connections use ``role``'s login (every thread: the
    settings dict is shared)."""
    for conn in connections.all(initialized_only=True):
        conn.close()
    connection.settings_dict.update(credentials(role))


@contextmanager
def connected_as(role: str):
    """Within the block, Django's ``default`` connection is ``role`` (a new session)."""
    before = {k: connection.settings_dict[k] for k in ("USER", "PASSWORD")}
    connect_as(role)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(before)


def privileged_connect():
    """A psycopg connection of the superuser to the test database, outside Django (kept open
    for the process). Used by the flush after a transactional test and by tests that must
    pass the append-only triggers between two real processes' runs."""
    import psycopg

    global _privileged
    info = _conninfo("superuser")
    if _privileged is None or _privileged.closed or _privileged.info.dbname != info["dbname"]:
        if _privileged is not None:
            _privileged.close()
        _privileged = psycopg.connect(**info, autocommit=True)
    return _privileged


def privileged_close() -> None:
    """Close the superuser's connection (before the test database is dropped)."""
    global _privileged
    if _privileged is not None:
        _privileged.close()
        _privileged = None


def privileged_execute(statements: list[str]) -> None:
    """Run ``statements`` in one transaction as the superuser."""
    conn = privileged_connect()
    with conn.transaction():
        for sql in statements:
            conn.execute(sql)


def _url(role: str) -> str:
    """A TCP host, or the embedded server's socket folder percent-encoded as the host (as
    config.embedded_db writes it): never read from the environment, which the embedded path
    leaves without DATABASE_URL."""
    s = connection.settings_dict
    user = credentials(role)
    auth = quote(user["USER"], safe="") + (
        f":{quote(user['PASSWORD'], safe='')}" if user["PASSWORD"] else ""
    )
    host = quote(s["HOST"] or "127.0.0.1", safe="")
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def subprocess_database_url() -> str:
    """The test database as the app sees it (the runtime role): for a worker, gunicorn or a
    command of the app started by a test."""
    return _url("runtime")


def owner_database_url() -> str:
    """The test database as its owner (``migrate`` in a subprocess, DDL)."""
    return _url("owner")


def superuser_database_url() -> str:
    """The test database as DATABASE_URL's superuser (replication, creating roles)."""
    return _url("superuser")


def owner_settings() -> dict[str, str]:
    """``settings.DATABASE_OWNER`` for the test database (the migrate command connects so)."""
    s = connection.settings_dict
    return {**credentials("owner"), "HOST": s["HOST"] or "", "PORT": str(s["PORT"] or "")}
