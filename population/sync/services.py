"""Writes of the department sync. The API push, the inbox scan and the command all call these.

Contract of ``batch_receive`` (shared with ``POST /api/v1/feeds/{department}/batches``):

* in: the department code (``Department``), the file's bytes, its file name, the format
  (``csv``/``jsonl``, or None to take it from the name), the source, optionally the feed kind
  (None: the file name's prefix up to the first ``_`` or ``.``, e.g. ``death_20250101.csv``)
  and, for JSON Lines, the schema version (None: the latest);
* out: the ``Batch`` (status ``received``), processed by the Celery task after commit; the same
  bytes sent again return the first batch unchanged (``batch.content_sha256``);
* refused with ``DomainError`` (nothing recorded): unknown department, feed or format, a feed
  the department is not authoritative for (``not_authoritative``), an empty or oversized file,
  a file whose encoding is not UTF-8 (with or without BOM) or GBK/GB18030, or that decodes
  only with many replacement characters or looks like another encoding (``encoding_suspect``),
  a CSV header of no known version.
  Row-level faults never refuse a batch: they are rejected rows in its report.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.errors import Conflict, DomainError
from population.jurisdiction import actor_require_within
from population.services import history_context
from population.sync import leases, pipeline
from population.sync.departments import Department, is_authoritative
from population.sync.feeds import FEEDS, feed_get
from population.sync.models import (
    Batch,
    BatchEvent,
    BatchEventKind,
    BatchSource,
    BatchStatus,
    FeedFormat,
    FollowUp,
    FollowUpStatus,
)
from population.sync.parsing import blocks_of, csv_header_version, detect_encoding

logger = logging.getLogger(__name__)


def _feed_from_filename(filename: str) -> str:
    """``birth_certificate_202501.csv`` -> ``birth_certificate``: the longest feed name prefix."""
    stem = Path(filename).name.lower()
    matches = [k for k in FEEDS if stem == k or (stem.startswith(k) and stem[len(k)] in "_.-")]
    return max(matches, key=len) if matches else Path(filename).stem


def _format_from_filename(filename: str) -> str:
    suffix = Path(filename).suffix.lower().lstrip(".")
    return {"csv": FeedFormat.CSV, "jsonl": FeedFormat.JSONL, "ndjson": FeedFormat.JSONL}.get(
        suffix, ""
    )


def batch_receive(
    *,
    department: str,
    content: bytes,
    filename: str,
    fmt: str | None,
    source: str,
    feed: str | None = None,
    schema_version: int | None = None,
    submitted_by: Actor = None,
    enqueue: bool = True,
    encoding: str | None = None,
) -> Batch:
    """Record a delivered file as a batch and queue it; the same content again is a no-op.

    ``content`` is the file's bytes, or a function giving its blocks (``parsing.blocks_of``: a
    file read from disk is then never held whole); ``encoding`` the declared one, if any.
    """
    if department not in Department.values or department == Department.PSB:
        raise DomainError(
            f"未知的报送部门：{department}",
            f"unknown department: {department}",
            code="unknown_department",
        )
    kind = feed or _feed_from_filename(filename)
    spec = feed_get(kind)
    if not is_authoritative(department, f"fact.{kind}"):
        raise DomainError(
            f"{Department(department).label}不是“{spec.description}”的权威部门",
            f"department {department} is not authoritative for feed {kind}",
            code="not_authoritative",
        )
    fmt = fmt or _format_from_filename(filename)
    if fmt not in FeedFormat.values:
        raise DomainError(
            "文件格式应为csv或jsonl", "format must be csv or jsonl", code="unknown_format"
        )
    if source not in BatchSource.values:
        raise DomainError(f"未知来源：{source}", f"unknown source: {source}", code="unknown_source")
    size = sum(len(block) for block in blocks_of(content))
    if size == 0:
        raise DomainError("文件为空", "the file is empty", code="empty_file")
    if size > settings.SYNC_MAX_BATCH_BYTES:
        raise DomainError(
            f"文件超过{settings.SYNC_MAX_BATCH_BYTES}字节",
            f"the file is larger than {settings.SYNC_MAX_BATCH_BYTES} bytes",
            code="file_too_large",
        )
    timer = pipeline.PhaseTimer()
    with timer("receive.decode"):
        text, encoding, blank = detect_encoding(content, encoding)
    if blank:  # a byte-order mark and nothing else
        raise DomainError("文件为空", "the file is empty", code="empty_file")
    if fmt == FeedFormat.CSV:
        version = csv_header_version(text, spec)
        if schema_version is not None and schema_version != version:
            raise DomainError(
                f"表头为第{version}版，与声明的第{schema_version}版不符",
                f"the header is version {version}, not the stated {schema_version}",
                code="version_mismatch",
            )
    else:
        version = spec.latest if schema_version is None else schema_version
        if version not in spec.versions:
            raise DomainError(
                f"{kind}没有第{version}版格式",
                f"feed {kind} has no version {version}",
                code="unknown_version",
            )
    with timer("receive.hash"):
        sha = hashlib.sha256()
        for block in blocks_of(content):
            sha.update(block)
        digest = sha.hexdigest()
    existing = Batch.objects.filter(department=department, feed=kind, content_sha256=digest).first()
    if existing is not None:
        return existing
    try:
        with timer("receive.store"), transaction.atomic():
            batch = Batch.objects.create(
                department=department,
                feed=kind,
                schema_version=version,
                fmt=fmt,
                encoding=encoding,
                source=source,
                filename=Path(filename).name[:255],
                content=b"",  # stored below, as one binary parameter
                content_sha256=digest,
                size_bytes=size,
                submitted_by=officer_or_none(submitted_by),
            )
            pipeline.batch_content_store(batch.pk, content)
            if enqueue:
                transaction.on_commit(lambda: _enqueue(batch.pk))
    except IntegrityError:
        # The same file arrived twice at once: the other delivery recorded it.
        return Batch.objects.get(department=department, feed=kind, content_sha256=digest)
    timer.log("received", batch.pk)
    return batch


def _enqueue(batch_id: int) -> None:
    from population.sync.tasks import batch_process_task

    batch_process_task.delay(batch_id)


class BatchBusy(Exception):
    """Another process holds the batch's lease (a redelivered task while the first still runs)."""


LeaseLost = leases.LeaseLost


def batch_process(
    *,
    batch_id: int,
    progress: Callable[[Batch], None] | None = None,
    owner: str | None = None,
) -> Batch:
    """Run (or resume) a batch to the end: stage and validate once, then commit chunk by chunk.

    Safe to call again at any time: a finished or quarantined batch is returned as it is, a
    batch whose lease another live process holds raises ``BatchBusy`` (a holder of this host
    that no longer exists is taken over at once), an interrupted one resumes after its last
    committed chunk. Each step commits only while this run still holds the
    batch's lease (``population/sync/leases.py``); a run whose lease passed to another process
    stops with ``LeaseLost`` before its next commit. Each call counts as an attempt; past
    ``SYNC_MAX_ATTEMPTS`` (a batch that keeps killing its worker, say) the batch is
    quarantined instead.
    """
    owner = owner or leases.lease_owner_new()
    if leases.lease_claim(batch_id=batch_id, owner=owner) is None:
        batch = Batch.objects.defer("content").get(pk=batch_id)
        if batch.status in (BatchStatus.DONE, BatchStatus.QUARANTINED):
            return batch
        holder = batch.lease_owner
        if not (
            holder
            and leases.holder_gone(holder)
            and leases.lease_claim(batch_id=batch_id, owner=owner, gone_holder=holder)
        ):
            raise BatchBusy(batch_id)
    try:
        with leases.lease_held(batch_id=batch_id, owner=owner):
            batch = Batch.objects.select_for_update().defer("content").get(pk=batch_id)
            if batch.attempts >= settings.SYNC_MAX_ATTEMPTS:
                return _quarantine(batch, "处理次数已达上限 / too many attempts")
            batch.attempts += 1
            batch.status = BatchStatus.PROCESSING
            batch.started_at = batch.started_at or timezone.now()
            batch.save(update_fields=["attempts", "status", "started_at"])
        if batch.staged_at is None or not pipeline.stage_table_exists(batch.pk):
            with leases.lease_held(batch_id=batch_id, owner=owner):
                batch = pipeline.stage(batch)
            if progress:
                progress(batch)
        timer = pipeline.PhaseTimer()
        while True:
            # The chunk's commit is the lease's heartbeat, and fenced by it.
            with leases.lease_held(batch_id=batch_id, owner=owner):
                batch, finished = pipeline.apply_chunk(
                    batch_id, chunk_rows=settings.SYNC_CHUNK_ROWS, timer=timer
                )
                commit_started = time.perf_counter()
            # The chunk's real commit is this transaction's (apply_chunk's is a savepoint).
            timer.seconds["apply.commit"] = (
                timer.seconds.get("apply.commit", 0.0) + time.perf_counter() - commit_started
            )
            if progress:
                progress(batch)
            if finished:
                break
            if settings.SYNC_CHUNK_PAUSE_SECONDS:
                time.sleep(settings.SYNC_CHUNK_PAUSE_SECONDS)
        timer.log("applied", batch_id)
        with leases.lease_held(batch_id=batch_id, owner=owner):
            batch = Batch.objects.select_for_update().defer("content").get(pk=batch_id)
            batch.status = BatchStatus.DONE
            batch.finished_at = timezone.now()
            batch.last_error = ""
            batch.lease_owner = ""
            batch.lease_expires_at = None
            batch.save(
                update_fields=[
                    "status",
                    "finished_at",
                    "last_error",
                    "lease_owner",
                    "lease_expires_at",
                ]
            )
            pipeline.stage_drop(batch.pk)
        return batch
    except leases.LeaseLost:
        logger.warning("sync batch %s: lease lost by %s, stopping", batch_id, owner)
        leases.lease_lost_note(batch_id=batch_id, owner=owner)
        raise
    except BaseException:
        # A failed attempt frees the batch at once for its retry (a lost connection cannot,
        # and need not: the lease then lapses).
        with contextlib.suppress(DatabaseError):
            leases.lease_release(batch_id=batch_id, owner=owner)
        raise


def _quarantine(batch: Batch, error: str) -> Batch:
    batch.status = BatchStatus.QUARANTINED
    batch.last_error = error[:2000]
    batch.finished_at = timezone.now()
    batch.lease_owner = ""
    batch.lease_expires_at = None
    batch.save(
        update_fields=["status", "last_error", "finished_at", "lease_owner", "lease_expires_at"]
    )
    pipeline.stage_drop(batch.pk)
    logger.warning("sync batch %s quarantined: %s", batch.pk, error)
    return batch


@transaction.atomic
def batch_record_failure(
    *, batch_id: int, error: str, final: bool, retry_in: float | None = None
) -> Batch:
    """Note a failed attempt; ``final`` (no retry left, or a fault no retry can fix) quarantines.

    ``retry_in``: the retry's delay; if no process claims the batch by then (plus a lease), the
    lease sweep dispatches it again (a worker that died holding the retry).
    """
    batch = Batch.objects.select_for_update().defer("content").get(pk=batch_id)
    if batch.status in (BatchStatus.DONE, BatchStatus.QUARANTINED):
        return batch
    if final or batch.attempts >= settings.SYNC_MAX_ATTEMPTS:
        return _quarantine(batch, error)
    batch.status = BatchStatus.RETRYING
    batch.last_error = error[:2000]
    batch.save(update_fields=["status", "last_error"])
    if retry_in is not None:
        leases.lease_release(batch_id=batch_id, owner="", retry_in=retry_in)
    return batch


REQUEUE_REASON_MAX = 500


def _actor_id(actor: Actor) -> int | None:
    return getattr(actor, "pk", None)


def batch_requeue(*, batch: Batch, actor: Actor, reason: str) -> Batch:
    """Send an unfinished batch through the pipeline again, from its last committed chunk.

    Any batch not done may be requeued: a quarantined one (after its cause was fixed), or one
    stuck in processing. The process holding its lease, if any, loses it and stops before its
    next commit. ``reason`` is required; it is kept in the batch's event log and, with the
    officer, in its history (``BatchHistory``).
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise DomainError(
            "请填写重新处理的原因", "a reason for the requeue is required", code="reason_required"
        )
    if len(reason) > REQUEUE_REASON_MAX:
        raise DomainError(
            f"原因不能超过{REQUEUE_REASON_MAX}个字",
            f"the reason must be at most {REQUEUE_REASON_MAX} characters",
            code="reason_too_long",
        )
    with transaction.atomic():
        try:
            batch = Batch.objects.select_for_update(nowait=True).defer("content").get(pk=batch.pk)
        except OperationalError:
            raise Conflict(
                f"批次{batch.pk}正在提交一个分块，请稍后再试",
                f"batch {batch.pk} is committing a chunk; try again in a moment",
                code="batch_busy",
            ) from None
        if batch.status == BatchStatus.DONE:
            raise Conflict(
                f"批次{batch.pk}已处理完成，不能重新处理",
                f"batch {batch.pk} is finished and cannot be requeued",
                code="batch_finished",
            )
        previous = batch.lease_owner
        with history_context(actor=actor, reason=f"重新处理部门数据批次：{reason}"):
            batch.status = BatchStatus.RECEIVED
            batch.attempts = 0
            batch.requeues += 1
            batch.finished_at = None
            batch.lease_owner = ""
            batch.lease_expires_at = None
            batch.save(
                update_fields=[
                    "status",
                    "attempts",
                    "requeues",
                    "finished_at",
                    "lease_owner",
                    "lease_expires_at",
                ]
            )
        BatchEvent.objects.create(
            batch=batch,
            kind=BatchEventKind.REQUEUED,
            previous_worker=previous,
            actor=officer_or_none(actor),
            reason=reason,
            committed_line=batch.committed_line,
        )
        logger.info("sync batch %s requeued by user %s: %s", batch.pk, _actor_id(actor), reason)
        transaction.on_commit(lambda: _enqueue(batch.pk))
    return batch


@transaction.atomic
def followup_close(*, followup: FollowUp, actor: Actor, note: str = "") -> FollowUp:
    """Mark an item handled (the officer did the registration, or checked the disagreement)."""
    followup = FollowUp.objects.select_for_update().get(pk=followup.pk)
    actor_require_within(actor, followup)
    if followup.status == FollowUpStatus.CLOSED:
        raise Conflict("事项已处理", "the item is closed already", code="already_closed")
    with history_context(actor=actor, reason=note or "处理部门数据待办"):
        followup.status = FollowUpStatus.CLOSED
        followup.closed_at = timezone.now()
        followup.closed_by = officer_or_none(actor)
        followup.note = note[:300]
        followup.save(update_fields=["status", "closed_at", "closed_by", "note"])
    return followup


def inbox_scan(*, department: str, inbox: Path | None = None) -> list[Batch]:
    """Take every file in ``<inbox>/<department>/`` as a batch, then move it aside.

    Accepted files go to ``accepted/``, refused ones to ``refused/`` with a ``.reason.txt``.
    A crash between receiving and moving is harmless: the next scan finds the same content,
    which is the same batch.
    """
    folder = Path(inbox or settings.SYNC_INBOX_DIR) / department
    if not folder.is_dir():
        return []
    batches = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            batch = batch_receive(
                department=department,
                content=path.read_bytes(),
                filename=path.name,
                fmt=None,
                source=BatchSource.INBOX,
            )
        except DomainError as exc:
            target = folder / "refused"
            target.mkdir(exist_ok=True)
            (target / f"{path.name}.reason.txt").write_text(str(exc) + "\n", encoding="utf-8")
            shutil.move(path, target / path.name)
            continue
        target = folder / "accepted"
        target.mkdir(exist_ok=True)
        shutil.move(path, target / path.name)
        batches.append(batch)
    return batches
