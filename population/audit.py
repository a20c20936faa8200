"""Read audit: who saw which person's data, which fields, and why.

History libraries record writes only; reads of personal data are logged here. The log is
append-only in the database (a trigger refuses UPDATE and DELETE) and hash-chained: each row's
hash covers its content and the previous row's hash, so a row removed or altered by someone who
bypassed the trigger breaks the chain at that point (``access_log_verify``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.utils import timezone

from population.models import AccessLog

GENESIS = "0" * 64


def _digest(previous: str, entry: AccessLog) -> str:
    payload = json.dumps(
        [
            previous,
            entry.at.isoformat(),
            entry.user_id,
            entry.username,
            entry.channel,
            entry.purpose,
            list(entry.person_ids),
            list(entry.fields),
            entry.client,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def access_log_record(
    *,
    user,
    channel: str,
    purpose: str,
    person_ids: Iterable[int],
    fields: Sequence[str],
    client: str = "",
) -> AccessLog:
    """Append one read to the log, chained to the previous row (writers take turns)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # One writer at a time extends the chain; the lock ends with the transaction.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('popbase.access_log'))")
        last = AccessLog.objects.order_by("-id").values_list("row_hash", flat=True).first()
        entry = AccessLog(
            at=timezone.now(),
            user_id=getattr(user, "pk", None),
            username=getattr(user, "username", "") or "",
            channel=channel,
            purpose=purpose,
            person_ids=sorted(set(person_ids)),
            fields=list(fields),
            client=client,
            prev_hash=last or GENESIS,
        )
        entry.row_hash = _digest(entry.prev_hash, entry)
        entry.save(force_insert=True)
    return entry


ADMIN_PURPOSE = "户籍业务办理（管理后台）"


def access_log_admin_read(request, *, channel: str, person_ids, fields) -> None:
    """Log what an admin page showed to the signed-in staff member."""
    access_log_record(
        user=request.user,
        channel=channel,
        purpose=ADMIN_PURPOSE,
        person_ids=person_ids,
        fields=fields,
        client=request.META.get("REMOTE_ADDR", ""),
    )


def access_log_verify(*, batch_size: int = 5000) -> int | None:
    """The id of the first row where the chain breaks, or None when the log is intact."""
    previous = GENESIS
    for entry in AccessLog.objects.order_by("id").iterator(chunk_size=batch_size):
        if entry.prev_hash != previous or entry.row_hash != _digest(previous, entry):
            return entry.id
        previous = entry.row_hash
    return None
