"""Leases on feed batches: one process works on a batch at a time, and a dead one is replaced.

A process takes a batch with ``lease_claim`` (one ``UPDATE … WHERE … RETURNING``: the batch is
unfinished and its lease free or lapsed), then does every step of it inside ``lease_held``: the
step's transaction locks the batch row, checks that the lease is still its own (fencing: a
process that lost its lease writes nothing more) and renews the lease as its last write, so
the lease is renewed with every committed chunk. While a step runs, its transaction holds the
batch row, and the claim and the sweep skip locked rows, so a long chunk is never taken over.

When the whole worker dies (``kill -9`` of parent and children, a lost machine), its lease
lapses ``SYNC_LEASE_SECONDS`` after its last commit; the sweep (Celery beat every
``SYNC_LEASE_SWEEP_SECONDS``) frees the lease and dispatches the batch again, and the next
worker resumes it after its last committed chunk. Times are the database server's clock.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from population.sync.models import BatchEvent, BatchEventKind

# Statuses of a batch that still has work to do.
UNFINISHED = ("received", "processing", "retrying")


class LeaseLost(Exception):
    """The lease passed to another process (it lapsed, or an officer requeued the batch)."""


def lease_owner_new() -> str:
    """A name for this run: host, process id and a random part (a reused pid is not the same)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Claim:
    batch_id: int
    owner: str
    previous_owner: str


def holder_gone(holder: str) -> bool:
    """Whether ``holder`` was a process of this host that no longer exists.

    A worker whose pool child died (its parent lives on and runs the task again at once), or
    a rerun of a killed ``ingest_feed``, then need not wait for the lease to lapse. Only a
    missing process counts: a pid that is alive (or reused) waits for the lease, and a wrong
    verdict would cost only work, as the holder is fenced.
    """
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:120] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_claim(*, batch_id: int, owner: str, gone_holder: str = "") -> Claim | None:
    """Take the batch if it is unfinished and its lease free, lapsed or ``owner``'s already
    (or still ``gone_holder``'s, a process found gone by ``holder_gone``); None otherwise.

    One statement: of two processes claiming at once, exactly one gets the row. A row locked
    by a step in progress is skipped (its holder is alive and will renew the lease).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """WITH free AS (
                   SELECT id, lease_owner AS previous FROM population_batch
                   WHERE id = %(id)s AND status = ANY(%(unfinished)s)
                     AND (lease_owner IN ('', %(owner)s) OR lease_expires_at < clock_timestamp()
                          OR (%(gone)s <> '' AND lease_owner = %(gone)s))
                   FOR UPDATE SKIP LOCKED)
               UPDATE population_batch b
               SET lease_owner = %(owner)s,
                   lease_expires_at = clock_timestamp() + make_interval(secs => %(seconds)s)
               FROM free WHERE b.id = free.id
               RETURNING free.previous, b.committed_line""",
            {
                "id": batch_id,
                "unfinished": list(UNFINISHED),
                "owner": owner,
                "gone": gone_holder,
                "seconds": settings.SYNC_LEASE_SECONDS,
            },
        )
        row = cursor.fetchone()
        if row is None:
            return None
        previous, committed_line = row
        BatchEvent.objects.create(
            batch_id=batch_id,
            kind=BatchEventKind.CLAIMED,
            worker=owner,
            previous_worker=previous,
            committed_line=committed_line,
        )
    return Claim(batch_id, owner, previous)


@contextlib.contextmanager
def lease_held(*, batch_id: int, owner: str) -> Iterator[None]:
    """One step of the batch as one transaction that still holds the lease, renewed at its end.

    Raises ``LeaseLost`` (and the step writes nothing) when the lease is no longer ``owner``'s.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT lease_owner, committed_line FROM population_batch WHERE id = %s FOR UPDATE",
                [batch_id],
            )
            row = cursor.fetchone()
        if row is None or row[0] != owner:
            raise LeaseLost(batch_id)
        yield
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE population_batch
                   SET lease_expires_at = clock_timestamp() + make_interval(secs => %s)
                   WHERE id = %s AND lease_owner = %s""",
                [settings.SYNC_LEASE_SECONDS, batch_id, owner],
            )


def lease_lost_note(*, batch_id: int, owner: str) -> None:
    """Record that ``owner`` stopped because its lease had passed to another process."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lease_owner, committed_line FROM population_batch WHERE id = %s", [batch_id]
        )
        holder, committed_line = cursor.fetchone()
    BatchEvent.objects.create(
        batch_id=batch_id,
        kind=BatchEventKind.LEASE_LOST,
        worker=owner,
        previous_worker=holder,
        committed_line=committed_line,
    )


def lease_release(*, batch_id: int, owner: str, retry_in: float | None = None) -> None:
    """Give the lease up (a failed attempt). With ``retry_in``, the batch must be claimed again
    within that many seconds plus a lease, or the sweep dispatches it again."""
    with connection.cursor() as cursor:
        if retry_in is None:
            cursor.execute(
                """UPDATE population_batch SET lease_owner = '', lease_expires_at = NULL
                   WHERE id = %s AND lease_owner = %s""",
                [batch_id, owner],
            )
        else:
            cursor.execute(
                """UPDATE population_batch SET lease_owner = '',
                       lease_expires_at = clock_timestamp() + make_interval(secs => %s)
                   WHERE id = %s AND (lease_owner = %s OR lease_owner = '')""",
                [retry_in + settings.SYNC_LEASE_SECONDS, batch_id, owner],
            )


def leases_sweep() -> list[int]:
    """Free the lapsed leases of unfinished batches and dispatch those batches again.

    Run by Celery beat on the ingest queue. Idempotent: a freed lease has no expiry, so the
    next sweep leaves the batch alone while the dispatched task is on its way.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """WITH lapsed AS (
                   SELECT id, lease_owner AS previous FROM population_batch
                   WHERE status = ANY(%s) AND lease_expires_at < clock_timestamp()
                   ORDER BY id FOR UPDATE SKIP LOCKED)
               UPDATE population_batch b SET lease_owner = '', lease_expires_at = NULL
               FROM lapsed WHERE b.id = lapsed.id
               RETURNING b.id, lapsed.previous, b.committed_line""",
            [list(UNFINISHED)],
        )
        lapsed = sorted(cursor.fetchall())
        BatchEvent.objects.bulk_create(
            BatchEvent(
                batch_id=batch_id,
                kind=BatchEventKind.LEASE_LAPSED,
                previous_worker=previous,
                committed_line=committed_line,
            )
            for batch_id, previous, committed_line in lapsed
        )
        ids = [batch_id for batch_id, _, _ in lapsed]
        transaction.on_commit(lambda: _dispatch(ids))
    return ids


def _dispatch(ids: list[int]) -> None:
    from population.sync.tasks import batch_process_task

    for batch_id in ids:
        batch_process_task.delay(batch_id)
