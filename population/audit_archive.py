"""Retention of the access log: old months leave the database only through a verified export.

``access_log_archive`` (``manage.py audit_archive``, Celery beat ``population.audit_archive``
monthly) takes each month partition whose end is more than ``AUDIT_RETENTION_MONTHS`` before the
start of the current month, and:

1. refuses it while any of its rows is unsealed (the sealer must chain it first);
2. exports its rows in sequence order, each with its chain link (sequence number, previous hash,
   row hash), and every checkpoint that covers them, to
   ``AUDIT_ARCHIVE_DIR/<database>/population_accesslog-YYYY-MM.jsonl.gz`` — gzip JSON lines,
   written to a ``.part`` file, fsynced and renamed, ending in a manifest (month, row count, the
   exact sequence ranges, SHA-256 of the row lines) signed with the checkpoint key;
3. reads the file back and verifies it (``archive_file_verify``, also ``audit_verify --file``):
   every row's HMAC under the key, the links between consecutive rows, the checkpoints' heads
   and signatures, the manifest's signature, count and ranges;
4. in one transaction, checks the partition still holds exactly the exported rows, detaches and
   drops it (and the same month of the per-person read index) and records an ``AuditArchive``.

A crash at any step leaves the month either still in the database (steps 1–3, or a rolled-back
step 4: a rerun exports it again over the same file) or dropped with a verified file and its
record (step 4 committed). Nothing is deleted before a verified copy exists.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from population import audit, partitions
from population.locks import advisory_xact_lock
from population.models import (
    ACCESS_LOG_CONTENT,
    AccessLog,
    AccessLogPending,
    AccessLogPerson,
    AccessLogSeal,
    AuditArchive,
    AuditCheckpoint,
    AuditFinding,
)

_TABLE = AccessLog._meta.db_table
_PERSON_INDEX = AccessLogPerson._meta.db_table
_CHAIN = AccessLogSeal._meta.db_table
_PENDING = AccessLogPending._meta.db_table
_CHECKPOINTS = AuditCheckpoint._meta.db_table
FORMAT = "popbase-accesslog-archive/1"


@dataclass
class MonthResult:
    month: dt.date
    status: str  # "archived", "unsealed" (refused), "failed"
    rows: int = 0
    file: str = ""
    detail: str = ""


@dataclass
class ArchiveRun:
    months: list[MonthResult] = field(default_factory=list)

    @property
    def archived(self) -> list[MonthResult]:
        return [m for m in self.months if m.status == "archived"]


def archive_dir() -> Path:
    return Path(settings.AUDIT_ARCHIVE_DIR) / connection.settings_dict["NAME"]


def archive_path(month: dt.date) -> Path:
    return archive_dir() / f"{_TABLE}-{month:%Y-%m}.jsonl.gz"


def retention_cutoff(today: dt.date | None = None, months: int | None = None) -> dt.date:
    """Months ending on or before this day (UTC month boundaries) are past retention."""
    months = settings.AUDIT_RETENTION_MONTHS if months is None else months
    current = partitions.month_start(today or dt.datetime.now(dt.UTC).date())
    return partitions.month_add(current, -months)


def months_due(today: dt.date | None = None, months: int | None = None) -> list[dt.date]:
    cutoff = retention_cutoff(today, months)
    with connection.cursor() as cursor:
        found = partitions.partitions(cursor, _TABLE)
    return [p.month for p in found if p.month and partitions.month_add(p.month, 1) <= cutoff]


# --- the file -------------------------------------------------------------------------------


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _manifest_message(manifest: dict) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _ranges(seqs: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for seq in seqs:
        if out and seq == out[-1][1] + 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def _export(month: dt.date, path: Path) -> dict:
    """Write the month's rows, links and checkpoints to ``path`` (via ``.part``, fsynced,
    renamed); returns the manifest."""
    name = partitions.partition_name(_TABLE, month)
    content = ", ".join(f"a.{c}" for c in ACCESS_LOG_CONTENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    seqs: list[int] = []
    # No row of a month past retention is written or sealed any more (the run refuses a month
    # with unsealed rows); the drop checks the partition still holds exactly what was exported.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT min(s.seq), max(s.seq) FROM {partitions._q(name)} AS a"  # noqa: S608
                f" JOIN {_CHAIN} AS s ON s.log_id = a.id"
            )
            low, high = cursor.fetchone()
            cursor.execute(
                f"SELECT first_seq, last_seq, count, head_hash, sealed_at, algorithm, key_id,"  # noqa: S608
                f" signature FROM {_CHECKPOINTS}"
                " WHERE last_seq >= %s AND first_seq <= %s ORDER BY first_seq",
                [low or 0, high or -1],
            )
            checkpoints = [
                {
                    "first_seq": r[0], "last_seq": r[1], "count": r[2], "head_hash": r[3],
                    "sealed_at": audit._iso(r[4]), "algorithm": r[5], "key_id": r[6],
                    "signature": r[7],
                }
                for r in cursor.fetchall()
            ]  # fmt: skip
        with (
            gzip.open(part, "wt", encoding="utf-8") as out,
            connection.chunked_cursor() as rows,
        ):
            out.write(_json({"kind": "header", "format": FORMAT, "table": _TABLE,
                             "month": f"{month:%Y-%m}"}) + "\n")  # fmt: skip
            for cp in checkpoints:
                out.write(_json({"kind": "checkpoint", **cp}) + "\n")
            rows.execute(
                f"SELECT s.seq, coalesce(p.row_hash, %s), s.row_hash, {content}"  # noqa: S608
                f" FROM {partitions._q(name)} AS a JOIN {_CHAIN} AS s ON s.log_id = a.id"
                f" LEFT JOIN {_CHAIN} AS p ON p.seq = s.seq - 1 ORDER BY s.seq",
                [audit.GENESIS],
            )
            while batch := rows.fetchmany(5000):
                for seq, prev, row_hash, *values in batch:
                    values[1] = values[1].isoformat()  # as the sealer hashed it
                    line = _json({"kind": "row", "seq": seq, "prev_hash": prev,
                                  "row_hash": row_hash, "row": values}) + "\n"  # fmt: skip
                    digest.update(line.encode())
                    out.write(line)
                    seqs.append(seq)
            manifest = {
                "kind": "manifest",
                "format": FORMAT,
                "table": _TABLE,
                "month": f"{month:%Y-%m}",
                "rows": len(seqs),
                "seq_ranges": _ranges(seqs),
                "rows_sha256": digest.hexdigest(),
                "checkpoints": len(checkpoints),
                "key_id": audit.key_id(),
                "exported_at": audit._iso(timezone.now()),
            }
            manifest["signature"] = audit.signing_key().sign(_manifest_message(manifest)).hex()
            out.write(_json(manifest) + "\n")
    with part.open("rb") as f:
        os.fsync(f.fileno())
    part.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return manifest


def _lines(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line


def archive_file_verify(path: Path | str) -> audit.Verdict:
    """Verify an exported month against its own checkpoints and signed manifest; the first
    broken sequence number and why, as ``access_log_verify`` names them."""
    path = Path(path)
    verdict = audit.Verdict()
    try:
        manifest = None
        for line in _lines(path):
            manifest = line
        manifest = json.loads(manifest) if manifest else None
    except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        return verdict.broken(AuditFinding.TRUNCATED, None, f"归档文件无法完整读取：{exc}")
    if not manifest or manifest.get("kind") != "manifest":
        return verdict.broken(AuditFinding.TRUNCATED, None, "归档文件缺少末尾的签名清单")
    if not _manifest_valid(manifest):
        return verdict.broken(AuditFinding.CHECKPOINT, None, "归档清单的签名无效")
    expected = [s for low, high in manifest["seq_ranges"] for s in range(low, high + 1)]
    checkpoints: list[dict] = []
    firsts: list[int] = []
    digest = hashlib.sha256()
    position, previous = 0, None  # previous: (seq, row_hash) of the last row read
    digests: dict[str, object] = {}
    for line in _lines(path):
        item = json.loads(line)
        kind = item.get("kind")
        if kind == "checkpoint":
            cp = {k: v for k, v in item.items() if k != "kind"}
            if not audit._signature_valid(cp):
                return verdict.broken(
                    AuditFinding.CHECKPOINT, cp.get("first_seq"), "归档中检查点的签名无效"
                )
            checkpoints.append(cp)
            firsts.append(cp["first_seq"])
            verdict.checkpoints_checked += 1
            continue
        if kind != "row":
            continue
        digest.update(line.encode())
        seq = item["seq"]
        if position >= len(expected) or seq < expected[position]:
            return verdict.broken(AuditFinding.EXTRA, seq, f"序号 {seq} 不在归档清单内或重复")
        if seq > expected[position]:
            missing = expected[position]
            return verdict.broken(AuditFinding.MISSING, missing, f"序号 {missing} 的记录不在归档中")
        k = bisect.bisect_right(firsts, seq) - 1
        if k < 0 or checkpoints[k]["last_seq"] < seq:
            return verdict.broken(AuditFinding.EXTRA, seq, f"序号 {seq} 不在任何已签名检查点内")
        cp = checkpoints[k]
        algorithm = cp["algorithm"]
        fn = digests.get(algorithm) or digests.setdefault(algorithm, audit._digest_fn(algorithm))
        row = list(item["row"])
        try:
            row[1] = dt.datetime.fromisoformat(row[1])
            computed = fn(audit._row_payload(seq, item["prev_hash"], row))
        except (TypeError, ValueError):
            computed = None
        if computed != item["row_hash"]:
            return verdict.broken(
                AuditFinding.ALTERED, seq, f"序号 {seq} 的内容或哈希与密钥计算结果不符"
            )
        if previous and previous[0] == seq - 1 and previous[1] != item["prev_hash"]:
            return verdict.broken(AuditFinding.ALTERED, seq, f"序号 {seq} 与前一条记录链接不上")
        if seq == cp["last_seq"] and item["row_hash"] != cp["head_hash"]:
            return verdict.broken(AuditFinding.ALTERED, seq, f"序号 {seq} 与已签名检查点的链头不符")
        previous = (seq, item["row_hash"])
        position += 1
        verdict.rows_checked += 1
    if position < len(expected):
        missing = expected[position]
        return verdict.broken(AuditFinding.TRUNCATED, missing, f"序号 {missing} 起的记录不在归档中")
    if manifest["rows"] != verdict.rows_checked or digest.hexdigest() != manifest["rows_sha256"]:
        return verdict.broken(AuditFinding.ALTERED, None, "归档记录与签名清单的摘要不符")
    return verdict


def _manifest_valid(manifest: dict) -> bool:
    from cryptography.exceptions import InvalidSignature

    if manifest.get("key_id") != audit.key_id():
        return False
    try:
        audit.signing_key().public_key().verify(
            bytes.fromhex(manifest["signature"]), _manifest_message(manifest)
        )
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


# --- the run --------------------------------------------------------------------------------


def _unsealed(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {partitions._q(name)} AS a"  # noqa: S608
            f" WHERE NOT EXISTS (SELECT 1 FROM {_CHAIN} AS s WHERE s.log_id = a.id)"
        )
        return cursor.fetchone()[0]


def _drop(month: dt.date, manifest: dict, path: Path) -> None:
    """Detach and drop the month (log and per-person index) and record the archive, in one
    transaction, only if the partition still holds exactly what was exported."""
    name = partitions.partition_name(_TABLE, month)
    index_name = partitions.partition_name(_PERSON_INDEX, month)
    with transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_lock(partitions.PARTITION_LOCK, cursor=cursor)
        cursor.execute(f"LOCK TABLE {partitions._q(name)} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f"SELECT count(*), min(s.seq), max(s.seq) FROM {partitions._q(name)} AS a"  # noqa: S608
            f" LEFT JOIN {_CHAIN} AS s ON s.log_id = a.id"
        )
        count, low, high = cursor.fetchone()
        ranges = manifest["seq_ranges"]
        if (count, low, high) != (
            manifest["rows"],
            ranges[0][0] if ranges else None,
            ranges[-1][1] if ranges else None,
        ):
            raise RuntimeError(f"{name} changed after its export; not dropped")
        cursor.execute(f"ALTER TABLE {_TABLE} DETACH PARTITION {partitions._q(name)}")
        cursor.execute(f"DROP TABLE {partitions._q(name)}")
        if partitions._exists(cursor, index_name):
            cursor.execute(
                f"ALTER TABLE {_PERSON_INDEX} DETACH PARTITION {partitions._q(index_name)}"
            )
            cursor.execute(f"DROP TABLE {partitions._q(index_name)}")
        AuditArchive.objects.create(
            month=month,
            rows=manifest["rows"],
            first_seq=ranges[0][0] if ranges else None,
            last_seq=ranges[-1][1] if ranges else None,
            seq_ranges=ranges,
            file=str(path),
            sha256=_file_sha256(path),
            archived_at=timezone.now(),
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def access_log_archive(
    *, today: dt.date | None = None, months: int | None = None, dry_run: bool = False
) -> ArchiveRun:
    """Export, verify and drop every month past retention; idempotent (a rerun finds nothing
    left, or finishes a month a crash interrupted)."""
    run = ArchiveRun()
    due = months_due(today, months)
    if due and not dry_run:
        audit.checkpoints_anchor()  # the export's checkpoints are in the files outside, too
    for month in due:
        name = partitions.partition_name(_TABLE, month)
        unsealed = _unsealed(name)
        if unsealed:
            run.months.append(MonthResult(month, "unsealed", detail=f"{unsealed} 条未封存"))
            continue
        path = archive_path(month)
        if dry_run:
            run.months.append(MonthResult(month, "due", file=str(path)))
            continue
        manifest = _export(month, path)
        verdict = archive_file_verify(path)
        if not verdict.intact:
            run.months.append(MonthResult(month, "failed", file=str(path), detail=verdict.detail))
            continue
        _drop(month, manifest, path)
        run.months.append(MonthResult(month, "archived", rows=manifest["rows"], file=str(path)))
    return run


def archived_ranges() -> list[tuple[int, int]]:
    """Sequence ranges whose rows left the database by retention, in order."""
    ranges = [tuple(r) for a in AuditArchive.objects.all() for r in a.seq_ranges]
    return sorted(ranges)
