"""Retention of the access log (population/audit_archive.py): a month past
AUDIT_RETENTION_MONTHS leaves the database only after its export verified; the export is checked
by ``audit_verify --file`` (a tampered file is named by sequence number); the database's chain
still verifies with the month gone; reruns and crashes lose nothing."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from population import audit, audit_archive, partitions
from population.models import AccessLog, AccessLogSeal, AuditArchive, AuditFinding

# Partitions are DDL (create, detach, drop): the owner does them, as the beat jobs do through
# DATABASE_OWNER_URL; the runtime role is refused (tests/test_runtime_role.py, db_roles).
pytestmark = [pytest.mark.django_db, pytest.mark.db_role("owner")]

UTC = dt.UTC
LOG = "population_accesslog"
OLD = dt.date(2021, 3, 1)
TODAY = dt.date(2026, 12, 4)  # with 36 months kept, months ending by 2023-12-01 are due
OLD_PARTITION = f"{LOG}_p202103"


@pytest.fixture(autouse=True)
def dirs(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_ARCHIVE_DIR = tmp_path / "archive"
    settings.AUDIT_RETENTION_MONTHS = 36


def _row(at: dt.datetime, who: str) -> AccessLog:
    return AccessLog.objects.create(
        at=at, username=who, channel="api.persons", purpose="p", person_ids=[5], fields=["n"]
    )


@pytest.fixture
def old_month():
    """Old rows interleaved with new ones (so the month's sequence numbers are not one range),
    all sealed in batches of three."""
    partitions.partitions_ensure(today=OLD, ahead=0)
    rows = []
    for i in range(6):
        rows.append(_row(dt.datetime(2021, 3, 10 + i, tzinfo=UTC), f"old{i}"))
        if i % 2:
            rows.append(_row(dt.datetime.now(UTC), f"new{i}"))
    audit.access_log_seal(batch_size=3)
    return rows


def _exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return cursor.fetchone()[0]


def _seq(username: str) -> int:
    return AccessLogSeal.objects.get(log_id=AccessLog.objects.get(username=username).id).seq


def _rewrite(path: Path, change) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    lines = change(lines)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in lines)


def test_a_month_past_retention_is_exported_verified_and_dropped(old_month):
    seqs = {r.username: _seq(r.username) for r in old_month}
    run = audit_archive.access_log_archive(today=TODAY)

    [month] = run.months
    assert (month.month, month.status, month.rows) == (dt.date(2021, 3, 1), "archived", 6)
    path = Path(month.file)
    assert path.name == f"{LOG}-2021-03.jsonl.gz" and path.is_file()
    assert not path.with_name(path.name + ".part").exists()
    assert not _exists(OLD_PARTITION) and not _exists("population_accesslogperson_p202103")
    assert AccessLog.objects.filter(username__startswith="old").count() == 0
    assert AccessLog.objects.filter(username__startswith="new").count() == 3
    record = AuditArchive.objects.get()
    old_seqs = sorted(v for k, v in seqs.items() if k.startswith("old"))
    assert [s for a, b in record.seq_ranges for s in range(a, b + 1)] == old_seqs
    assert len(record.seq_ranges) > 1  # interleaved with the new rows
    # The database's chain still verifies, the archived rows accepted as archived ...
    verdict = audit.access_log_verify()
    assert (verdict.intact, verdict.rows_checked) == (True, 9)
    # ... and the file verifies on its own.
    file_verdict = audit_archive.archive_file_verify(path)
    assert (file_verdict.intact, file_verdict.rows_checked) == (True, 6)
    out = io.StringIO()
    call_command("audit_verify", "--file", str(path), stdout=out)
    assert "the exported file is intact" in out.getvalue()
    # The month's rows are in the file with their content.
    with gzip.open(path, "rt", encoding="utf-8") as f:
        names = [json.loads(line)["row"][3] for line in f if '"kind":"row"' in line]
    assert names == [f"old{i}" for i in range(6)]


def test_a_live_row_deleted_between_archived_numbers_is_still_named(old_month):
    audit_archive.access_log_archive(today=TODAY)
    victim = _seq("new1")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE population_accesslog DISABLE TRIGGER USER")
        cursor.execute("DELETE FROM population_accesslog WHERE username = 'new1'")
        cursor.execute("ALTER TABLE population_accesslog ENABLE TRIGGER USER")
    verdict = audit.access_log_verify()
    assert (verdict.intact, verdict.finding, verdict.seq) == (False, AuditFinding.MISSING, victim)


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        ("altered", AuditFinding.ALTERED),
        ("missing", AuditFinding.MISSING),
        ("extra", AuditFinding.EXTRA),
    ],
)
def test_a_tampered_export_is_named_by_sequence_number(old_month, tamper, finding):
    target = _seq("old3")
    [month] = audit_archive.access_log_archive(today=TODAY).months
    path = Path(month.file)

    def change(lines):
        at = next(i for i, item in enumerate(lines) if item.get("seq") == target)
        if tamper == "altered":
            lines[at]["row"][3] = "someone else"
        elif tamper == "missing":
            del lines[at]
        else:
            lines.insert(at, dict(lines[at]))
        return lines

    _rewrite(path, change)
    verdict = audit_archive.archive_file_verify(path)
    assert (verdict.intact, verdict.finding, verdict.seq) == (False, finding, target)
    with pytest.raises(CommandError, match=f"sequence {target}"):
        call_command("audit_verify", "--file", str(path), stdout=io.StringIO())


def test_a_forged_manifest_or_a_cut_file_is_refused(old_month):
    [month] = audit_archive.access_log_archive(today=TODAY).months
    path = Path(month.file)
    original = path.read_bytes()

    def fewer(lines):
        lines[-1]["rows"] = 5
        return lines

    _rewrite(path, fewer)
    verdict = audit_archive.archive_file_verify(path)
    assert (verdict.finding, verdict.seq) == (AuditFinding.CHECKPOINT, None)
    path.write_bytes(original[: len(original) // 2])
    assert audit_archive.archive_file_verify(path).finding == AuditFinding.TRUNCATED
    with pytest.raises(CommandError, match="no such file"):
        call_command("audit_verify", "--file", str(path) + ".nope")


def test_a_rerun_changes_nothing(old_month):
    [month] = audit_archive.access_log_archive(today=TODAY).months
    before = Path(month.file).read_bytes()
    out = io.StringIO()
    call_command("audit_archive", stdout=out)  # today's date: the same months are due
    assert "no month is past retention" in out.getvalue()
    assert audit_archive.access_log_archive(today=TODAY).months == []
    assert Path(month.file).read_bytes() == before
    assert AuditArchive.objects.count() == 1


def test_a_month_with_an_unsealed_row_stays(old_month):
    late = _row(dt.datetime(2021, 3, 30, tzinfo=UTC), "late")
    [month] = audit_archive.access_log_archive(today=TODAY).months
    assert month.status == "unsealed"
    assert _exists(OLD_PARTITION)
    assert AccessLog.objects.filter(pk=late.pk).exists()
    assert not AuditArchive.objects.exists()


def test_a_crash_before_the_drop_commits_leaves_the_month_in_the_database(old_month, monkeypatch):
    real_create = AuditArchive.objects.create

    def crash(**kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(AuditArchive.objects, "create", crash)
    with pytest.raises(RuntimeError, match="power cut"), transaction.atomic():
        audit_archive.access_log_archive(today=TODAY)
    # The detach and drop rolled back: every row is still in the database.
    assert _exists(OLD_PARTITION)
    assert AccessLog.objects.filter(username__startswith="old").count() == 6
    assert audit.access_log_verify().intact
    monkeypatch.setattr(AuditArchive.objects, "create", real_create)
    [month] = audit_archive.access_log_archive(today=TODAY).months
    assert month.status == "archived" and not _exists(OLD_PARTITION)
    assert audit_archive.archive_file_verify(month.file).intact


def test_a_crash_while_writing_the_file_leaves_the_month_in_the_database(old_month, monkeypatch):
    def crash(self, target):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        audit_archive.access_log_archive(today=TODAY)
    assert _exists(OLD_PARTITION)
    assert not audit_archive.archive_path(OLD).exists()
    monkeypatch.undo()
    [month] = audit_archive.access_log_archive(today=TODAY).months
    assert month.status == "archived"
    assert not Path(month.file + ".part").exists()


def test_the_dry_run_lists_the_month_and_changes_nothing(old_month):
    [month] = audit_archive.access_log_archive(today=TODAY, dry_run=True).months
    assert month.status == "due"
    assert _exists(OLD_PARTITION) and not Path(month.file).exists()
