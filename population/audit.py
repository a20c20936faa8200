"""Read audit: who saw which person's data, which fields, and why.

History libraries record writes only; reads of personal data are logged here, in three steps
modelled on Certificate Transparency's log servers (leaves queued, a sequencer integrates them,
signed tree heads published):

1. **Write** (the request's path): ``access_log_record`` inserts one row, unsealed. No lock, no
   read of any other row; the row is committed before the answer leaves.
2. **Seal** (``access_log_seal``: Celery beat every few seconds, ``manage.py audit_seal``): one
   sealer at a time (an advisory lock only sealers take) gives the unsealed rows, in id order,
   the next sequence numbers and chains them: ``row_hash = HMAC(key, seq, content, prev_hash)``
   under ``AUDIT_HMAC_KEY`` (HMAC-SHA-256, or HMAC-SM3 by setting). Each batch is one
   transaction that also writes a checkpoint (range, head hash, count, time) signed with
   Ed25519; after the commit the checkpoint is appended to a file outside the database. A
   crash before the commit leaves the batch unsealed for the next run; a sealed row can never
   be sealed again (a trigger refuses any change to a sealed row).
3. **Verify** (``access_log_verify``: ``manage.py audit_verify``, nightly job): streams the chain
   against the signed checkpoints (the file's and the database's) and names the first broken
   sequence number and why: altered, missing, extra, truncated, unsealed too long.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from population.locks import advisory_xact_lock, try_advisory_xact_lock
from population.models import (
    ACCESS_LOG_CONTENT,
    AccessLog,
    AccessLogPending,
    AccessLogPerson,
    AccessLogSeal,
    AuditCheckpoint,
    AuditFinding,
    AuditVerification,
)

GENESIS = "0" * 64
# Taken only by sealers (never by a request): pg_advisory_xact_lock(SEAL_LOCK).
SEAL_LOCK = 0x706F70_61756469  # "pop" "audi"
ALGORITHMS = {"sha256": "hmac-sha256", "sm3": "hmac-sm3"}


# --- keys -----------------------------------------------------------------------------------


def _hmac_key() -> bytes:
    return settings.AUDIT_HMAC_KEY.encode()


def _digest_fn(algorithm: str):
    """A function (payload bytes) -> hex HMAC for a checkpoint's algorithm name."""
    key = _hmac_key()
    if algorithm == "hmac-sha256":
        return lambda payload: hmac.new(key, payload, hashlib.sha256).hexdigest()
    if algorithm == "hmac-sm3":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import hmac as chmac

        def sm3(payload: bytes) -> str:
            mac = chmac.HMAC(key, hashes.SM3())
            mac.update(payload)
            return mac.finalize().hex()

        return sm3
    raise ValueError(f"unknown audit algorithm {algorithm!r}")


def current_algorithm() -> str:
    return ALGORITHMS[settings.AUDIT_HMAC_ALGORITHM]


@functools.cache
def _signing_key_cached(file: str, seed_hex: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if file:
        key = serialization.load_pem_private_key(Path(file).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("AUDIT_SIGNING_KEY_FILE must hold an Ed25519 private key")
        return key
    if seed_hex:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    # Development only (settings refuse a missing key in production).
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"popbase dev-only audit signing key").digest()
    )


def signing_key():
    return _signing_key_cached(settings.AUDIT_SIGNING_KEY_FILE, settings.AUDIT_SIGNING_KEY)


def _public_raw() -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def key_id() -> str:
    """Fingerprint of the public key that verifies the checkpoints (16 hex digits)."""
    return hashlib.sha256(_public_raw()).hexdigest()[:16]


# --- canonical forms ------------------------------------------------------------------------


def _row_payload(seq: int, prev: str, row: Sequence) -> bytes:
    """``row`` holds ACCESS_LOG_CONTENT in order, as read from the database."""
    ident, at, user_id, username, channel, purpose, person_ids, fields, client = row
    return json.dumps(
        [seq, ident, prev, at.isoformat(), user_id, username, channel, purpose,
         list(person_ids), list(fields), client],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()  # fmt: skip


def _checkpoint_message(cp: dict) -> bytes:
    return json.dumps(
        [cp["first_seq"], cp["last_seq"], cp["count"], cp["head_hash"], cp["sealed_at"],
         cp["algorithm"], cp["key_id"]],
        separators=(",", ":"),
    ).encode()  # fmt: skip


def _checkpoint_dict(cp: AuditCheckpoint) -> dict:
    return {
        "first_seq": cp.first_seq,
        "last_seq": cp.last_seq,
        "count": cp.count,
        "head_hash": cp.head_hash,
        "sealed_at": _iso(cp.sealed_at),
        "algorithm": cp.algorithm,
        "key_id": cp.key_id,
        "signature": cp.signature,
    }


def _signature_valid(cp: dict) -> bool:
    from cryptography.exceptions import InvalidSignature

    if cp.get("key_id") != key_id():
        return False
    try:
        signing_key().public_key().verify(bytes.fromhex(cp["signature"]), _checkpoint_message(cp))
    except (InvalidSignature, ValueError):
        return False
    return True


def _iso(moment: dt.datetime) -> str:
    """UTC, always with microseconds, so the strings compare and sign the same every time."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


# --- 1. write -------------------------------------------------------------------------------


def access_log_record(
    *,
    user,
    channel: str,
    purpose: str,
    person_ids: Iterable[int],
    fields: Sequence[str],
    client: str = "",
) -> AccessLog:
    """Append one read to the log, unsealed: one INSERT, no lock, no read of other rows.

    Outside a transaction the row is committed when this returns, so the read is on record
    before the answer leaves; the sealer chains it within seconds.
    """
    entry = AccessLog(
        at=timezone.now(),
        user_id=getattr(user, "pk", None),
        username=getattr(user, "username", "") or "",
        channel=channel,
        purpose=purpose,
        person_ids=sorted(set(person_ids)),
        fields=list(fields),
        client=client,
    )
    entry.save(force_insert=True)
    return entry


def access_log_params(*, user, channel: str, purpose: str, fields: Sequence[str], client: str = ""):
    """The values of one log row but its ``person_ids``, as named parameters for a statement
    that reads the persons and logs the read at once (``ACCESS_LOG_INSERT``)."""
    return {
        "log_at": timezone.now(),
        "log_user_id": getattr(user, "pk", None),
        "log_username": getattr(user, "username", "") or "",
        "log_channel": channel,
        "log_purpose": purpose,
        "log_fields": list(fields),
        "log_client": client,
    }


# The row of ``access_log_params`` for the persons ``{ids}`` (an SQL expression of a bigint
# array, e.g. over a CTE of the read): the same INSERT as ``access_log_record``'s, so the seal
# queue trigger and the append-only protection treat both alike.
ACCESS_LOG_INSERT = (
    f"INSERT INTO {AccessLog._meta.db_table}"
    " (at, user_id, username, channel, purpose, person_ids, fields, client)"
    " SELECT %(log_at)s, %(log_user_id)s, %(log_username)s, %(log_channel)s, %(log_purpose)s,"
    " {ids}, %(log_fields)s::varchar[], %(log_client)s"
)


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


# --- 2. seal --------------------------------------------------------------------------------

_TABLE = AccessLog._meta.db_table
_CHAIN = AccessLogSeal._meta.db_table
_PENDING = AccessLogPending._meta.db_table
# The sealer's queue (filled by the log's insert trigger): rows not yet in the chain.
UNSEALED_SQL = f"id IN (SELECT log_id FROM {_PENDING})"  # noqa: S608 (a table name)
_PERSON_INDEX = AccessLogPerson._meta.db_table
_CONTENT = ", ".join(f"a.{c}" for c in ACCESS_LOG_CONTENT)


@dataclass
class SealResult:
    rows: int = 0
    batches: int = 0
    busy: bool = False  # another sealer held the lock (only when wait=False)


def _lock(cursor, *, wait: bool) -> bool:
    if wait:
        advisory_xact_lock(SEAL_LOCK, cursor=cursor)
        return True
    return try_advisory_xact_lock(SEAL_LOCK, cursor=cursor)


def _seal_batch(*, limit: int, wait: bool, after: int = 0) -> tuple[int, int] | None:
    """Seal up to ``limit`` queued rows with ids above ``after`` in one transaction; None when
    another sealer holds the lock, else (rows sealed, last id sealed). Within one run each batch
    starts after the previous one's last id, so the scan does not walk the queue entries the run
    has just deleted; a row committed late with a lower id is sealed by the next run."""
    algorithm = current_algorithm()
    digest = _digest_fn(algorithm)
    with transaction.atomic(), connection.cursor() as cursor:
        if not _lock(cursor, wait=wait):
            return None
        cursor.execute(
            f"SELECT last_seq, head_hash FROM {AuditCheckpoint._meta.db_table}"  # noqa: S608
            " ORDER BY last_seq DESC LIMIT 1"
        )
        head = cursor.fetchone() or (0, GENESIS)
        # The queue first, then those rows by primary key: as one join the planner may merge
        # the queue with the whole log's primary key from its start (measured: 1 s a batch).
        cursor.execute(
            f"SELECT log_id FROM {_PENDING} WHERE log_id > %s ORDER BY log_id LIMIT %s",  # noqa: S608
            [after, limit],
        )
        queued = [r[0] for r in cursor.fetchall()]
        rows = []
        if queued:
            cursor.execute(
                f"SELECT {_CONTENT} FROM {_TABLE} AS a"  # noqa: S608
                " WHERE a.id = ANY(%s::bigint[]) ORDER BY a.id",
                [queued],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0, after
        first_seq, prev = head[0] + 1, head[1]
        ids, hashes = [], []
        for seq, row in enumerate(rows, start=first_seq):
            prev = digest(_row_payload(seq, prev, row))
            ids.append(row[0])
            hashes.append(prev)
        # Narrow links, not a rewrite of the wide log rows; each row's number is the batch's
        # first plus its place. The queue entries go in the same transaction: sealed once.
        cursor.execute(
            f"INSERT INTO {_CHAIN} (seq, log_id, row_hash)"  # noqa: S608
            " SELECT %s::bigint + u.n - 1, u.id, u.h"
            " FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS u(id, h, n)",
            [first_seq, ids, hashes],
        )
        cursor.execute(
            f"DELETE FROM {_PENDING} WHERE log_id = ANY(%s::bigint[])",  # noqa: S608
            [ids],
        )
        if cursor.rowcount != len(ids):  # cannot happen under the lock; never half-seal
            raise RuntimeError("audit seal: the queue changed under the sealer")
        _person_index_add(cursor, ids)
        cp = {
            "first_seq": first_seq,
            "last_seq": first_seq + len(ids) - 1,
            "count": len(ids),
            "head_hash": prev,
            "sealed_at": _iso(timezone.now()),
            "algorithm": algorithm,
            "key_id": key_id(),
        }
        cp["signature"] = signing_key().sign(_checkpoint_message(cp)).hex()
        AuditCheckpoint.objects.create(
            **{**cp, "sealed_at": dt.datetime.fromisoformat(cp["sealed_at"])}
        )
        return len(ids), ids[-1]


def unsealed_rows():
    """The log rows still in the sealer's queue (for health checks and metrics)."""
    return AccessLog.objects.filter(pk__in=AccessLogPending.objects.values("log_id"))


def _person_index_add(cursor, ids: list[int]) -> None:
    """Index the sealed rows by person (``AccessLogPerson``), in the sealing transaction."""
    cursor.execute(
        f"INSERT INTO {_PERSON_INDEX} (person_id, at, log_id)"  # noqa: S608
        f" SELECT DISTINCT p.person_id, a.at, a.id FROM {_TABLE} AS a"
        " CROSS JOIN LATERAL unnest(a.person_ids) AS p(person_id)"
        " WHERE a.id = ANY(%s::bigint[]) ON CONFLICT DO NOTHING",
        [ids],
    )


def access_log_seal(*, batch_size: int | None = None, wait: bool = True) -> SealResult:
    """Seal every row written so far, in batches; safe to run twice at once."""
    limit = batch_size or settings.AUDIT_SEAL_BATCH
    result = SealResult()
    after = 0
    while True:
        batch = _seal_batch(limit=limit, wait=wait, after=after)
        if batch is None:
            result.busy = True
            break
        sealed, after = batch
        if sealed:
            result.rows += sealed
            result.batches += 1
        checkpoints_anchor()
        if sealed < limit:
            break
    return result


# --- anchoring: checkpoints appended to files outside the database --------------------------


def _checkpoint_dir() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR) / connection.settings_dict["NAME"]


def _checkpoint_files() -> list[Path]:
    folder = _checkpoint_dir()
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _last_line(path: Path) -> str:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        step, data = 4096, b""
        while end > 0 and data.count(b"\n") < 2:
            start = max(0, end - step)
            f.seek(start)
            data = f.read(end - start) + data
            end = start
    lines = [line for line in data.splitlines() if line.strip()]
    return lines[-1].decode() if lines else ""


def _anchored_up_to() -> int:
    for path in reversed(_checkpoint_files()):
        line = _last_line(path)
        if line:
            return int(json.loads(line)["last_seq"])
    return 0


def checkpoints_anchor() -> int:
    """Append to the files every checkpoint of the database not in them yet (under the sealers'
    lock, so two sealers never write the same line); returns how many were appended."""
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor, wait=True)
        done = _anchored_up_to()
        pending = list(AuditCheckpoint.objects.filter(last_seq__gt=done).order_by("last_seq"))
        if not pending:
            return 0
        folder = _checkpoint_dir()
        folder.mkdir(parents=True, exist_ok=True)
        by_month: dict[str, list[str]] = {}
        for cp in pending:
            month = cp.sealed_at.astimezone(dt.UTC).strftime("%Y-%m")
            by_month.setdefault(month, []).append(json.dumps(_checkpoint_dict(cp)) + "\n")
        for month, lines in by_month.items():
            with (folder / f"{month}.jsonl").open("a", encoding="utf-8") as f:
                f.writelines(lines)
                f.flush()
                os.fsync(f.fileno())
        return len(pending)


def _file_checkpoints() -> list[dict]:
    found = []
    for path in _checkpoint_files():
        with path.open(encoding="utf-8") as f:
            found.extend(json.loads(line) for line in f if line.strip())
    return found


# --- 3. verify ------------------------------------------------------------------------------


@dataclass
class Verdict:
    intact: bool = True
    finding: str = ""
    seq: int | None = None
    detail: str = ""
    rows_checked: int = 0
    checkpoints_checked: int = 0

    def broken(self, finding: str, seq: int | None, detail: str) -> Verdict:
        self.intact, self.finding, self.seq, self.detail = False, finding, seq, detail
        return self


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _checkpoints_merged(verdict: Verdict, now: dt.datetime) -> tuple[list[dict], list[str]]:
    """The signed checkpoints, file first, then the database's newer ones; problems found on
    the way that do not stop the chain walk are returned as notes (the walk names the row)."""
    max_delay = dt.timedelta(seconds=settings.AUDIT_SEAL_MAX_DELAY_SECONDS)
    in_db = {cp.last_seq: _checkpoint_dict(cp) for cp in AuditCheckpoint.objects.all()}
    in_file = _file_checkpoints()
    notes: list[str] = []
    merged: list[dict] = []
    for cp in in_file:
        if not _signature_valid(cp):
            verdict.broken(AuditFinding.CHECKPOINT, cp["first_seq"], "检查点文件中的签名无效")
            return [], notes
        ours = in_db.pop(cp["last_seq"], None)
        if ours is None:
            notes.append(f"数据库中缺少检查点 {cp['first_seq']}–{cp['last_seq']}")
        elif ours != cp:
            verdict.broken(
                AuditFinding.CHECKPOINT,
                cp["first_seq"],
                "数据库中的检查点与文件不符",
            )
            return [], notes
        merged.append(cp)
    file_top = merged[-1]["last_seq"] if merged else 0
    for last_seq in sorted(in_db):
        cp = in_db[last_seq]
        if last_seq < file_top or not _signature_valid(cp):
            verdict.broken(
                AuditFinding.CHECKPOINT,
                cp["first_seq"],
                "检查点签名无效或与文件不符",
            )
            return [], notes
        if dt.datetime.fromisoformat(cp["sealed_at"]) < now - max_delay:
            notes.append(f"检查点 {cp['first_seq']}–{cp['last_seq']} 未写入检查点文件")
        merged.append(cp)
    previous = 0
    for cp in merged:
        if cp["first_seq"] != previous + 1 or cp["count"] != cp["last_seq"] - cp["first_seq"] + 1:
            verdict.broken(
                AuditFinding.CHECKPOINT,
                cp["first_seq"],
                "检查点序号不连续",
            )
            return [], notes
        previous = cp["last_seq"]
    return merged, notes


def access_log_verify(
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    batch_size: int = 5000,
) -> Verdict:
    """Walk the chain against the signed checkpoints; the first break found, or intact."""
    now = timezone.now()
    verdict = Verdict()
    checkpoints, notes = _checkpoints_merged(verdict, now)
    if not verdict.intact:
        return verdict
    start = 0
    stop = len(checkpoints)
    if date_from:
        since = _day_start(date_from)
        start = next(
            (i for i, cp in enumerate(checkpoints) if cp["sealed_at"] >= _iso(since)), stop
        )
    if date_to:
        until = _iso(_day_start(date_to + dt.timedelta(days=1)))
        stop = next((i for i, cp in enumerate(checkpoints) if cp["sealed_at"] >= until), stop)
    chosen = checkpoints[start:stop]
    verdict.checkpoints_checked = len(chosen)
    seq, prev = (
        (checkpoints[start - 1]["last_seq"], checkpoints[start - 1]["head_hash"])
        if start
        else (0, GENESIS)
    )
    # Up to the last checkpoint read: a sealer may commit more while this runs.
    top = chosen[-1]["last_seq"] if chosen else seq
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT s.seq, {_CONTENT}, s.row_hash"  # noqa: S608
            f" FROM {_CHAIN} AS s LEFT JOIN {_TABLE} AS a ON a.id = s.log_id"
            " WHERE s.seq > %s AND s.seq <= %s ORDER BY s.seq",
            [seq, top],
        )
        walk = _walk(_fetched(cursor, batch_size), chosen, seq, prev, verdict, _archived())
    if not walk.intact:
        return walk
    if not date_to:
        extra = _beyond_the_last_checkpoint(checkpoints[-1]["last_seq"] if checkpoints else 0)
        if extra is not None:
            return verdict.broken(AuditFinding.EXTRA, extra, f"序号 {extra} 不在任何已签名检查点内")
    # Rows not in the chain, whether still queued or taken out of the queue behind its back.
    unsealed = AccessLog.objects.filter(
        ~Exists(AccessLogSeal.objects.filter(log_id=OuterRef("pk"))),
        at__lt=now - dt.timedelta(seconds=settings.AUDIT_SEAL_MAX_DELAY_SECONDS),
    )
    if date_from:
        unsealed = unsealed.filter(at__gte=_day_start(date_from))
    if date_to:
        unsealed = unsealed.filter(at__lt=_day_start(date_to + dt.timedelta(days=1)))
    late = unsealed.order_by("id").values_list("username", "at").first()
    if late:
        return verdict.broken(
            AuditFinding.UNSEALED,
            None,
            f"{late[0] or '系统'} 于 {timezone.localtime(late[1]):%Y-%m-%d %H:%M:%S} 的查阅记录，"
            f"超过 {settings.AUDIT_SEAL_MAX_DELAY_SECONDS} 秒仍未封存",
        )
    if notes:
        first = notes[0]
        return verdict.broken(AuditFinding.CHECKPOINT, None, first)
    return verdict


def _beyond_the_last_checkpoint(known: int) -> int | None:
    """The first sealed row no checkpoint covers. One statement, one snapshot: a batch's rows
    and its checkpoint commit together, so a sealer running meanwhile never shows up here."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(seq) FROM {_CHAIN} WHERE seq > GREATEST(%s,"  # noqa: S608
            f" (SELECT coalesce(max(last_seq), 0) FROM {AuditCheckpoint._meta.db_table}))",
            [known],
        )
        return cursor.fetchone()[0]


def _fetched(cursor, size: int):
    while rows := cursor.fetchmany(size):
        yield from rows


def _archived():
    """Membership test for sequence numbers whose rows left the database by retention
    (exported and verified first: population/audit_archive.py)."""
    import bisect

    from population.audit_archive import archived_ranges

    with connection.cursor() as cursor:  # absent while migrating from before it (0027)
        cursor.execute("SELECT to_regclass('population_auditarchive') IS NOT NULL")
        ranges = archived_ranges() if cursor.fetchone()[0] else []
    lows = [r[0] for r in ranges]

    def archived(seq: int) -> bool:
        i = bisect.bisect_right(lows, seq) - 1
        return i >= 0 and ranges[i][1] >= seq

    return archived


def _walk(
    rows, checkpoints: list[dict], seq: int, prev: str, verdict: Verdict, archived=None
) -> Verdict:
    k = 0
    expected = seq + 1
    digests: dict[str, object] = {}
    for row in rows:
        row_seq, content, row_hash = row[0], row[1:-1], row[-1]
        if row_seq < expected:
            return verdict.broken(AuditFinding.EXTRA, row_seq, f"序号 {row_seq} 出现两次")
        if row_seq > expected:
            return verdict.broken(
                AuditFinding.MISSING,
                expected,
                f"序号 {expected} 的记录不存在",
            )
        if k >= len(checkpoints):
            return verdict.broken(
                AuditFinding.EXTRA,
                row_seq,
                f"序号 {row_seq} 不在任何已签名检查点内",
            )
        cp = checkpoints[k]
        algorithm = cp["algorithm"]
        digest = digests.get(algorithm) or digests.setdefault(algorithm, _digest_fn(algorithm))
        if content[0] is None:  # the link is there, the log row it seals is not
            if not (archived and archived(row_seq)):
                return verdict.broken(AuditFinding.MISSING, row_seq, f"序号 {row_seq} 的记录不存在")
            # Archived by retention: its content was verified in its export; the link's hash
            # carries the chain on (and is still checked against the signed heads below).
        elif row_hash != digest(_row_payload(row_seq, prev, content)):
            return verdict.broken(
                AuditFinding.ALTERED, row_seq, f"序号 {row_seq} 的内容或哈希与密钥计算结果不符"
            )
        if row_seq == cp["last_seq"]:
            if row_hash != cp["head_hash"]:
                return verdict.broken(
                    AuditFinding.ALTERED,
                    row_seq,
                    f"序号 {row_seq} 与已签名检查点的链头不符",
                )
            k += 1
        prev = row_hash
        expected += 1
        verdict.rows_checked += 1
    if k < len(checkpoints):
        return verdict.broken(
            AuditFinding.TRUNCATED,
            expected,
            f"已签名检查点记到序号 {checkpoints[-1]['last_seq']}，记录只到 {expected - 1}",
        )
    return verdict


def access_log_verify_record(
    *, date_from: dt.date | None = None, date_to: dt.date | None = None, source: str
) -> AuditVerification:
    """Run ``access_log_verify`` and keep its result for the auditor's page (审计核验)."""
    started = timezone.now()
    verdict = access_log_verify(date_from=date_from, date_to=date_to)
    return AuditVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        date_from=date_from,
        date_to=date_to,
        intact=verdict.intact,
        finding=verdict.finding,
        seq=verdict.seq,
        detail=verdict.detail[:300],
        rows_checked=verdict.rows_checked,
        checkpoints_checked=verdict.checkpoints_checked,
        source=source,
    )


# --- 4. who read this person ----------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class PersonRead:
    """One sealed read of a person: when, by whom, through which channel, for what purpose."""

    log_id: int
    at: dt.datetime
    user_id: int | None
    username: str
    channel: str
    purpose: str
    fields: list[str]
    client: str

    @property
    def cursor(self) -> str:
        """Opaque keyset position: the next page starts after this read."""
        return f"{(self.at - _EPOCH) // _MICRO}_{self.log_id}"


class InvalidCursor(ValueError):
    pass


def read_cursor_parse(raw: str) -> tuple[dt.datetime, int]:
    """``cursor`` of a ``PersonRead`` back to (time, log id); ``InvalidCursor`` otherwise."""
    micros, sep, log_id = raw.partition("_")
    if (
        not sep
        or not (micros.isascii() and micros.isdigit() and len(micros) <= 17)
        or not (log_id.isascii() and log_id.isdigit() and len(log_id) <= 18)
    ):
        raise InvalidCursor(raw)
    return _EPOCH + int(micros) * _MICRO, int(log_id)


def person_reads(
    person_id: int, *, after: tuple[dt.datetime, int] | None = None, limit: int = 50
) -> list[PersonRead]:
    """The sealed reads of one person, newest first, ``limit`` from the keyset position
    ``after`` (exclusive): a range scan of ``AccessLogPerson``'s primary key (person, time, row)
    and one primary-key lookup per row shown, whatever the size of the log."""
    keyset, params = "", [person_id]
    if after is not None:
        keyset = " AND (i.at, i.log_id) < (%s, %s)"
        params += [after[0], after[1]]
    with connection.cursor() as cursor:
        # Table names and fixed text only; the values are parameters.
        sql = (
            "SELECT a.id, a.at, a.user_id, a.username, a.channel, a.purpose, a.fields, a.client"  # noqa: S608
            # By id: one primary-key probe per month partition for each row shown.
            f" FROM {_PERSON_INDEX} AS i JOIN {_TABLE} AS a ON a.id = i.log_id"
            f" WHERE i.person_id = %s{keyset}"
            " ORDER BY i.at DESC, i.log_id DESC LIMIT %s"
        )
        cursor.execute(sql, [*params, limit])
        return [PersonRead(*row) for row in cursor.fetchall()]


# --- TRUNCATE refused on every append-only table --------------------------------------------

TRUNCATE_FUNCTION = """
CREATE OR REPLACE FUNCTION popbase_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append_only: % may not be truncated', TG_TABLE_NAME;
END $$;
"""


def protected_tables() -> list[str]:
    """Tables whose rows the database never lets go (a ``pgtrigger.Protect`` on DELETE): the
    access log, checkpoints, history event tables, corrections and other append-only records."""
    import pgtrigger
    from django.apps import apps

    tables = []
    for model in apps.get_models():
        for trigger in getattr(model._meta, "triggers", []):
            if isinstance(trigger, pgtrigger.Protect) and "DELETE" in str(trigger.operation):
                tables.append(model._meta.db_table)
                break
    return sorted(tables)


def truncate_guard_install(sender=None, *, using: str = "default", **kwargs) -> None:
    """post_migrate receiver: a BEFORE TRUNCATE trigger on every protected table (TRUNCATE fires
    no DELETE trigger). Idempotent; also installs it on tables added by later migrations.
    Not after a flush (no ``plan``): emptying the tables keeps their triggers, and a flush may run
    as the runtime role, which owns no table."""
    from django.db import connections

    if kwargs.get("plan") is None:
        return

    connection = connections[using]
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        cursor.execute(TRUNCATE_FUNCTION)
        for table in (t for t in protected_tables() if t in existing):
            # A partition can be truncated by its own name and does not inherit statement
            # triggers: each one gets the guard too.
            cursor.execute(
                "SELECT %s UNION ALL SELECT inhrelid::regclass::text FROM pg_inherits"
                " WHERE inhparent = %s::regclass",
                [table, table],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(
                    f'CREATE OR REPLACE TRIGGER popbase_no_truncate BEFORE TRUNCATE ON "{name}"'
                    " FOR EACH STATEMENT EXECUTE FUNCTION popbase_refuse_truncate()"
                )
