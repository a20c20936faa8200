"""Least privilege in the database: an owner role for migrations, a runtime role for the app.

- The **owner** (``DATABASE_OWNER_URL``) owns the tables: ``manage.py migrate`` connects as it
  (``population/management/commands/migrate.py``) when that setting is given.
- The **runtime** role (``DATABASE_URL``) that the web app and the workers use reads and writes
  rows and nothing more: no DDL (it owns nothing; it may create only the feed batches' stage
  tables, in the ``popbase_stage`` schema), no ``TRUNCATE`` on the app's tables, and on the
  append-only tables (every table with a ``pgtrigger.Protect`` on DELETE: the access log, its
  checkpoints, its chain links, history event tables, corrections …) no ``DELETE`` and no
  ``UPDATE`` (``RUNTIME_UPDATE_COLUMNS`` would name columns the app must still fill later;
  none today: the sealer writes the chain as new rows of its own table and only deletes from
  the seal queue). The triggers refuse those writes too; the grants make the refusal hold even
  if a trigger is dropped.

``runtime_grants_sql`` is the whole grant set, idempotent. It runs after every migration (a
post_migrate receiver, so new tables get their grants and revocations) when the owner and
runtime roles differ, and by hand with ``manage.py db_roles``, which also creates the roles.
Default privileges give tables the owner creates later their grants straight away.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

from django.conf import settings
from django.db import connections, transaction

# Columns of append-only tables the runtime role may still UPDATE (table -> columns). Empty:
# the access log's chain lives in its own append-only table, written by INSERT.
RUNTIME_UPDATE_COLUMNS: dict[str, tuple[str, ...]] = {}

# The schema where the runtime role may create tables: the feed batches' stage tables.
STAGE_SCHEMA = "popbase_stage"

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def quote_role(name: str) -> str:
    """A role name as an SQL identifier; only plain lower-case names are accepted."""
    if not _ROLE_NAME.fullmatch(name or ""):
        raise ValueError(f"role name must match {_ROLE_NAME.pattern}: {name!r}")
    return f'"{name}"'


def append_only_tables() -> dict[str, bool]:
    """Append-only tables and whether UPDATE is refused on them too (a ``Protect`` on UPDATE
    without a condition), from the models' own triggers."""
    import pgtrigger
    from django.apps import apps

    tables: dict[str, bool] = {}
    for model in apps.get_models():
        protects = [
            t for t in getattr(model._meta, "triggers", []) if isinstance(t, pgtrigger.Protect)
        ]
        if not any("DELETE" in str(t.operation) for t in protects):
            continue
        tables[model._meta.db_table] = (
            any("UPDATE" in str(t.operation) and t.condition is None for t in protects)
            or model._meta.db_table in RUNTIME_UPDATE_COLUMNS
        )
    return dict(sorted(tables.items()))


def runtime_grants_sql(runtime: str, *, owner: str | None = None) -> list[str]:
    """Statements that give ``runtime`` exactly the rights the app needs on the current
    database, run by the owner of the tables (or a superuser). ``owner``: whose future tables
    get the default grants (the current user when not given)."""
    role = quote_role(runtime)
    owner_clause = f"FOR ROLE {quote_role(owner)} " if owner else ""
    existing = set(connections["default"].introspection.table_names())
    statements = [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {_current_database()} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        # Rows only: no TRUNCATE, REFERENCES or TRIGGER.
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        # UPDATE on sequences: setval, as the demo loader's bulk COPY needs.
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES {owner_clause}IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES {owner_clause}IN SCHEMA public"
        f" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
    ]
    if _schema_exists(STAGE_SCHEMA):
        # Feed batches' stage tables (population/sync/pipeline.py): the runtime role creates,
        # fills and drops its own there, and owns nothing in the public schema.
        statements.append(f"GRANT USAGE, CREATE ON SCHEMA {STAGE_SCHEMA} TO {role}")
    for table, no_update in append_only_tables().items():
        if table not in existing:
            continue
        revoked = "UPDATE, DELETE" if no_update else "DELETE"
        # A partition is reachable by its own name: the same refusal on each one.
        for name in (table, *_partitions_of(table)):
            statements.append(f'REVOKE {revoked} ON "{name}" FROM {role}')
        columns = RUNTIME_UPDATE_COLUMNS.get(table)
        if columns:
            statements.append(f'GRANT UPDATE ({", ".join(columns)}) ON "{table}" TO {role}')
    return statements


def _partitions_of(table: str) -> list[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [table],
        )
        return [r[0] for r in cursor.fetchall()]


def _schema_exists(name: str) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def _current_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_database())")
        return cursor.fetchone()[0]


def role_create(cursor, name: str, *, password: str | None = None) -> bool:
    """Create the login role ``name`` unless it exists; set its password when given. True
    when it was created."""
    role = quote_role(name)
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    created = cursor.fetchone() is None
    if created:
        cursor.execute(f"CREATE ROLE {role} LOGIN")
    if password:
        # Client-side binding: the password is sent as a quoted literal, never in a log line.
        cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
    return created


def runtime_role() -> str | None:
    """The runtime role when migrations run as a separate owner (``DATABASE_OWNER_URL``)."""
    if not getattr(settings, "DATABASE_OWNER", None):
        return None
    return settings.DATABASE_RUNTIME_USER


def runtime_grants_apply(sender=None, *, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: re-apply the runtime role's grants (new tables, new append-only
    tables) when migrations ran as the owner."""
    runtime = runtime_role()
    if not runtime or using != "default":
        return
    connection = connections[using]
    # All or nothing: a half-applied set could leave DELETE granted on an append-only table.
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == runtime:
            return
        for statement in runtime_grants_sql(runtime):
            cursor.execute(statement)


@contextmanager
def connected_as_owner(alias: str = "default"):
    """Within the block, ``alias`` connects with the owner's user and password
    (``DATABASE_OWNER_URL``); unchanged when that setting is not given."""
    owner = getattr(settings, "DATABASE_OWNER", None)
    if not owner:
        yield
        return
    connection = connections[alias]
    saved = {key: connection.settings_dict.get(key) for key in owner}
    if saved.get("USER") == owner.get("USER"):
        yield  # already the owner: keep the connection (and any transaction it is in)
        return
    if connection.in_atomic_block:
        raise RuntimeError(
            "不能在事务中切换为属主角色 / cannot switch to the owner role inside a transaction"
        )
    connection.close()
    connection.settings_dict.update(owner)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
