"""Reads on streaming replicas, with bounded staleness (``DATABASE_REPLICA_URLS``).

Only requests to the read-heavy paths (``REPLICA_READ_PATHS``: the department API, the
statistics dashboard and its report downloads) may read from a replica; everything else, every
background job and every command reads from the primary. Within such a request:

- the first write pins the rest of the request to the primary (a read that follows a write
  sees it), whether it goes through the ORM or raw SQL; the access log's INSERT of an audited
  read is exempt (it goes to the primary like every write, and nothing reads it back);
- a read inside a transaction on the primary stays on the primary;
- sessions, accounts, officers' areas and department keys are always read from the primary,
  so a login, a revoked key or a narrowed area takes effect at once; so are feed batches, so
  a department sees the batch it has just pushed;
- a replica is used only while its replay lag is at most ``REPLICA_MAX_LAG_SECONDS``, checked
  at most every ``REPLICA_LAG_CHECK_SECONDS`` per process; when none qualifies, the primary.

Lag is ``now() - pg_last_xact_replay_timestamp()`` on the standby, except that a standby whose
WAL receiver is streaming and has replayed all it received counts as zero lag: on an idle
primary the last replayed commit ages without the standby falling behind. (Seeing the WAL
receiver's state needs a superuser or the ``pg_read_all_stats`` role; without it the
timestamp alone is used, and an idle primary makes the replica look stale.)
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

log = logging.getLogger(__name__)

# Read from the primary whatever the request: identity, permissions, keys and areas.
PRIMARY_ONLY_APPS = frozenset(
    {"admin", "auth", "axes", "contenttypes", "django_celery_beat", "sessions"}
)
# ... and a pushed feed batch, whose progress a department polls right after pushing it.
PRIMARY_ONLY_MODELS = frozenset(
    {
        "sharing.apiclient",
        "sharing.apikey",
        "population.officerregion",
        "sync.batch",
        "sync.rejectedrow",
    }
)
# Writes that do not pin the request to the primary (the access log of audited reads).
PIN_EXEMPT_TABLES = ("population_accesslog",)

LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
             AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
             AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
            THEN 0.0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
       END
"""


@dataclass
class _RequestState:
    eligible: bool
    pinned: bool = False


_state: contextvars.ContextVar[_RequestState | None] = contextvars.ContextVar(
    "popbase_replica_state", default=None
)
_lag_lock = threading.Lock()
_lag_checked: dict[str, tuple[float, bool]] = {}  # alias -> (monotonic time, usable)


def replicas() -> list[str]:
    return list(getattr(settings, "REPLICA_DATABASES", ()))


def replica_lag_forget() -> None:
    """Drop the cached lag checks (the next read checks every replica again)."""
    with _lag_lock:
        _lag_checked.clear()


def replica_lag(alias: str) -> float | None:
    """Seconds the replica's replay is behind, or None when it cannot serve reads (not a
    standby, never replayed anything, unreachable)."""
    conn = connections[alias]
    try:
        with conn.cursor() as cursor:
            cursor.execute(LAG_SQL)
            recovering, lag = cursor.fetchone()
    except DatabaseError as exc:
        log.warning("replica %s unusable: %s", alias, exc)
        conn.close()
        return None
    if not recovering:
        log.warning("replica %s is not a standby (promoted?); not used", alias)
        return None
    return lag


def replica_usable(alias: str) -> bool:
    now = time.monotonic()
    with _lag_lock:
        cached = _lag_checked.get(alias)
        if cached and now - cached[0] < settings.REPLICA_LAG_CHECK_SECONDS:
            return cached[1]
    lag = replica_lag(alias)
    usable = lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS
    if lag is not None and not usable:
        log.info("replica %s skipped: %.1f s behind", alias, lag)
    with _lag_lock:
        _lag_checked[alias] = (time.monotonic(), usable)
    return usable


def _replica_for_request() -> str | None:
    state = _state.get()
    if state is None or not state.eligible or state.pinned:
        return None
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None
    usable = [alias for alias in replicas() if replica_usable(alias)]
    return random.choice(usable) if usable else None  # noqa: S311 (load spreading)


def read_alias(model=None) -> str:
    """The database alias a read in the current context goes to (for raw SQL reads)."""
    if model is not None:
        meta = model._meta
        if meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS:
            return DEFAULT_DB_ALIAS
    return _replica_for_request() or DEFAULT_DB_ALIAS


def read_connection(model=None):
    """``connections[read_alias()]``: the connection raw-SQL selectors read through."""
    return connections[read_alias(model)]


def pin_to_primary() -> None:
    """Every later read of this request goes to the primary."""
    state = _state.get()
    if state is not None:
        state.pinned = True


class ReplicaRouter:
    """Django database router: reads as above, writes and migrations on the primary only."""

    def db_for_read(self, model, **hints):
        return read_alias(model)

    def db_for_write(self, model, **hints):
        if model._meta.db_table not in PIN_EXEMPT_TABLES:
            pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # every alias holds the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


_READ_PREFIXES = ("select", "show", "explain", "values", "fetch", "close", "declare")


def _pin_on_write(execute, sql, params, many, context):
    """Execute wrapper on the primary: a statement other than a read pins the request (raw
    SQL writes bypass the router)."""
    head = sql.lstrip().lower()
    if not head.startswith(_READ_PREFIXES) and not (
        head.startswith("insert into") and any(t in head[:60] for t in PIN_EXEMPT_TABLES)
    ):
        pin_to_primary()
    return execute(sql, params, many, context)


class ReplicaReadsMiddleware:
    """Marks a request as allowed to read from replicas (by path) and watches it for writes.

    Not used when no replica is configured."""

    def __init__(self, get_response):
        if not replicas():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        eligible = request.path.startswith(tuple(settings.REPLICA_READ_PATHS))
        token = _state.set(_RequestState(eligible=eligible))
        try:
            if not eligible:
                return self.get_response(request)
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(_pin_on_write):
                return self.get_response(request)
        finally:
            _state.reset(token)
