"""Session advisory locks for jobs that span many transactions.

A job that commits chunk by chunk (a feed batch, a data-quality run, the nightly permit jobs)
holds ``pg_try_advisory_lock`` for its whole run, so two runs never overlap. A session lock
belongs to one server session: behind a transaction pooler (PgBouncer ``pool_mode =
transaction``) consecutive transactions of one Django connection may run on different server
sessions, so the lock would be taken on one, the unlock sent to another (and refused), and the
lock left behind on a pooled session for whoever gets it next.

So with ``DATABASE_DIRECT_URL`` set (the PostgreSQL address behind the pooler), the lock is
held on a connection of its own to that address, opened for the job and closed after it; a
worker that dies closes it and PostgreSQL releases the lock. Without it, on Django's own
connection, as before. Transaction-scoped locks (``pg_advisory_xact_lock``) need neither.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection

log = logging.getLogger(__name__)


def _key_sql(fn: str, key: tuple) -> str:
    if len(key) == 1 and isinstance(key[0], str):
        return f"SELECT {fn}(hashtext(%s))"
    if len(key) == 2 and isinstance(key[0], str):
        return f"SELECT {fn}(hashtext(%s), %s)"
    raise ValueError(f"unsupported advisory lock key {key!r}")


class SessionLock:
    """``pg_try_advisory_lock`` on ``hashtext(name)`` or ``(hashtext(name), n)``."""

    def __init__(self, *key: str | int) -> None:
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
def session_lock(*key: str | int):
    """Try the lock; yields whether it was acquired, and releases it on the way out."""
    lock = SessionLock(*key)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        lock.release()
