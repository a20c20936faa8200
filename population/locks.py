"""Every PostgreSQL advisory lock of the project, and the one place a lock's name becomes a key.

A key is one or two parts, each a name (``hashtext(name)``) or a number: one part is the
single 64-bit key, two parts the pair of 32-bit keys (``("popbase.stats", month)``).
docs/scaling.md lists every lock taken and why it is safe behind PgBouncer.

Transaction-scoped locks (``advisory_xact_lock``, ``try_advisory_xact_lock``) are the rule:
released at commit or rollback, so a transaction pooler never strands one. Take them inside the
transaction they guard (outside one, the lock is gone the moment it is taken).

Session locks are for jobs that span many transactions: a job that commits chunk by chunk (a
data-quality run, the nightly permit jobs) holds ``session_lock`` for its whole run, so two runs
never overlap. A session lock belongs to one server session: behind a transaction pooler
(PgBouncer ``pool_mode = transaction``) consecutive transactions of one Django connection may
run on different server sessions, so the lock would be taken on one, the unlock sent to another
(and refused), and the lock left behind on a pooled session for whoever gets it next.

So with ``DATABASE_DIRECT_URL`` set (the PostgreSQL address behind the pooler), the session lock
is held on a connection of its own to that address, opened for the job and closed after it; a
worker that dies closes it and PostgreSQL releases the lock. Without it, on Django's own
connection.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)


LockKey = str | int


def _key_sql(fn: str, key: tuple[LockKey, ...]) -> str:
    """``SELECT fn(...)`` with the key's parts as arguments: a name through ``hashtext``."""
    if len(key) not in (1, 2) or not all(isinstance(part, (str, int)) for part in key):
        raise ValueError(f"unsupported advisory lock key {key!r}")
    args = ", ".join("hashtext(%s)" if isinstance(part, str) else "%s" for part in key)
    return f"SELECT {fn}({args})"


def _run(fn: str, key: tuple[LockKey, ...], cursor) -> object:
    sql = _key_sql(fn, key)
    if cursor is not None:
        cursor.execute(sql, list(key))
        return cursor.fetchone()[0]
    with connection.cursor() as own:
        own.execute(sql, list(key))
        return own.fetchone()[0]


def advisory_xact_lock(*key: LockKey, cursor=None) -> None:
    """Wait for the lock; held until the enclosing transaction ends (on ``cursor``'s
    connection, else Django's default one)."""
    _run("pg_advisory_xact_lock", key, cursor)


def try_advisory_xact_lock(*key: LockKey, cursor=None) -> bool:
    """Take the lock if free, without waiting; whether it was taken (then held until the
    enclosing transaction ends)."""
    return bool(_run("pg_try_advisory_xact_lock", key, cursor))


class SessionLock:
    """``pg_try_advisory_lock`` on the key, held across transactions until ``release``."""

    def __init__(self, *key: LockKey) -> None:
        self.key = key
        self._own: psycopg.Connection | None = None
        self.held = False

    def acquire(self) -> bool:
        sql = _key_sql("pg_try_advisory_lock", self.key)
        if settings.DATABASE_DIRECT_URL:
            self._own = psycopg.connect(settings.DATABASE_DIRECT_URL, autocommit=True)
            self.held = self._own.execute(sql, list(self.key)).fetchone()[0]
            if not self.held:
                self._own.close()
                self._own = None
            return self.held
        with connection.cursor() as cursor:
            cursor.execute(sql, list(self.key))
            self.held = cursor.fetchone()[0]
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._own is not None:
            own, self._own = self._own, None
            try:
                # Released before close() returns (a closed session's backend ends a moment
                # later); ending the session would release it anyway.
                own.execute(_key_sql("pg_advisory_unlock", self.key), list(self.key))
            except psycopg.Error:
                pass
            finally:
                own.close()
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(_key_sql("pg_advisory_unlock", self.key), list(self.key))
        except DatabaseError:
            connection.close()  # a broken session: closing it releases the lock


@contextlib.contextmanager
def session_lock(*key: LockKey):
    """Try the lock; yields whether it was acquired, and releases it on the way out."""
    lock = SessionLock(*key)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        lock.release()
