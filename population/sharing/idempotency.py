"""``Idempotency-Key`` on writes: a repeated key (per client) replays the first answer.

The key is held by a transaction-scoped advisory lock from lookup to commit, and the write's
own effects commit in the same transaction as the stored answer: two identical requests at
once produce one effect; the second waits, then gets the first answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from django.db import transaction
from rest_framework.response import Response

from population.errors import DomainError
from population.locks import advisory_xact_lock
from population.sharing.models import ApiClient, IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyReused(DomainError):
    http_status = 422


def fingerprint(request) -> str:
    """The request as far as it decides the answer: method, path, stated purpose and body.

    The purpose is part of it so that a replay under another purpose is refused (422) rather
    than answered from the first read without a read of its own in the access log."""
    spooled = getattr(request, "spooled_body", None)
    if spooled is not None:  # a large body, hashed as it was read (inputs.body_spool)
        return spooled.fingerprint
    body = request.body
    digest = fingerprint_start(request, len(body))
    digest.update(body)
    return digest.hexdigest()


def fingerprint_start(request, body_length: int):
    """The fingerprint's hash up to the body: the body's bytes are added to it after."""
    digest = hashlib.sha256()
    purpose = request.META.get("HTTP_X_PURPOSE", "").strip().encode()
    for part in (request.method.encode(), request.get_full_path().encode(), purpose):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    digest.update(body_length.to_bytes(8, "big"))
    return digest


def idempotent(
    request,
    client: ApiClient,
    run: Callable[[], Response],
    on_error: Callable[[Exception], Response],
) -> Response:
    """Run the write once per (client, key); answers below 500 are stored and replayed."""
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return _run(run, on_error)
    if not _KEY.match(key):
        raise DomainError(
            "Idempotency-Key 须为1至255个可见ASCII字符",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            code="invalid_idempotency_key",
        )
    print_ = fingerprint(request)
    with transaction.atomic():
        advisory_xact_lock(client.pk & 0x7FFFFFFF, key)
        record = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if record is not None:
            if record.fingerprint != print_:
                raise IdempotencyKeyReused(
                    "该 Idempotency-Key 已用于另一个请求（路径、用途或内容不同）",
                    "this Idempotency-Key was used for a different request "
                    "(another path, purpose or body)",
                    code="idempotency_key_reused",
                )
            response = Response(record.body, status=record.status_code)
            response[REPLAY_HEADER] = "true"
            return response
        response = _run(run, on_error)
        if response.status_code < 500:
            IdempotencyRecord.objects.create(
                client=client,
                key=key,
                fingerprint=print_,
                status_code=response.status_code,
                body=response.data,
            )
        return response


def _run(run, on_error) -> Response:
    """The write in a savepoint: a refusal rolls its effects back and becomes an answer."""
    try:
        with transaction.atomic():
            return run()
    except Exception as exc:  # turned into the stored error answer, or re-raised
        response = on_error(exc)
        if response is None:
            raise
        return response
