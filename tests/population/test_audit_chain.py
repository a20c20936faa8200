"""The access log as an attacker with database access would try it, and its sealer under
concurrency and crashes (population.audit: write unsealed, seal in batches, verify)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from population import audit
from population.audit import access_log_record, access_log_seal, access_log_verify
from population.models import (
    AccessLog,
    AccessLogPending,
    AccessLogSeal,
    AuditCheckpoint,
    AuditFinding,
    AuditVerification,
)
from tests.dburl import both_layers_refuse, subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings.AUDIT_CHECKPOINT_DIR


def _write(n: int, start: int = 0) -> list[AccessLog]:
    return [
        access_log_record(
            user=None, channel="api.persons", purpose="p", person_ids=[i], fields=["name"]
        )
        for i in range(start, start + n)
    ]


def _chain() -> list[AccessLog]:
    """The sealed rows in chain order, each with its link's ``seq``, ``row_hash`` and the
    ``prev_hash`` it was chained from."""
    links = list(AccessLogSeal.objects.order_by("seq"))
    logs = AccessLog.objects.in_bulk([link.log_id for link in links])
    rows, prev = [], audit.GENESIS
    for link in links:
        row = logs[link.log_id]
        row.seq, row.row_hash, row.prev_hash = link.seq, link.row_hash, prev
        rows.append(row)
        prev = link.row_hash
    return rows


def _sealed(n: int, batch_size: int = 4) -> list[AccessLog]:
    _write(n)
    access_log_seal(batch_size=batch_size)
    return _chain()


# An attacker deleting the rows from some sequence number on: the log rows and their links.
DELETE_FROM_SEQ = [
    (
        "DELETE FROM population_accesslog WHERE id IN"
        " (SELECT log_id FROM population_accesslogseal WHERE seq > %s)"
    ),
    "DELETE FROM population_accesslogseal WHERE seq > %s",
]


# Tests that play an owner of the tables (switching the triggers off, the TRUNCATE guard itself)
# connect as the owner for their whole run (tests/dburl.py); every other test here is the app,
# the runtime role, which is refused all of this by its grants (tests/population/test_db_roles.py).
OWNER_BEHIND_THE_TRIGGERS = pytest.mark.db_role("owner")


def _sql(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _behind_the_triggers(*statements: tuple[str, list]) -> None:
    """What an owner of the tables can do: switch the protection off and edit."""
    for table in ("population_accesslog", "population_accesslogseal"):
        _sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    for sql, params in statements:
        _sql(sql, params)
    for table in ("population_accesslog", "population_accesslogseal"):
        _sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def _file_lines(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(folder.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


# --- writing -------------------------------------------------------------------------------


def test_a_read_is_one_insert_with_no_lock_and_no_read_of_other_rows(django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        entry = access_log_record(
            user=None, channel="api.persons", purpose="p", person_ids=[3, 1, 3], fields=["name"]
        )
    assert captured.captured_queries[0]["sql"].startswith('INSERT INTO "population_accesslog"')
    entry.refresh_from_db()
    assert entry.person_ids == [1, 3]
    # Queued by the insert's own trigger, in its transaction; not in the chain yet.
    assert list(AccessLogPending.objects.values_list("log_id", flat=True)) == [entry.pk]
    assert not AccessLogSeal.objects.exists()


# --- sealing -------------------------------------------------------------------------------


def test_the_sealer_chains_rows_in_id_order_and_signs_a_checkpoint_per_batch(checkpoint_dir):
    written = _write(10)

    result = access_log_seal(batch_size=4)

    assert (result.rows, result.batches) == (10, 3)
    rows = _chain()
    assert [r.id for r in rows] == [w.id for w in written]
    assert [r.seq for r in rows] == list(range(1, 11))
    digest = audit._digest_fn("hmac-sha256")
    for before, row in itertools.pairwise([None, *rows]):
        prev = before.row_hash if before else audit.GENESIS
        content = [getattr(row, c) for c in audit.ACCESS_LOG_CONTENT]
        assert row.row_hash == digest(audit._row_payload(row.seq, prev, content))
    expected = hmac.new(
        b"dev-only-audit-hmac-key-never-use-in-production",
        audit._row_payload(
            1, audit.GENESIS, [getattr(rows[0], c) for c in audit.ACCESS_LOG_CONTENT]
        ),
        hashlib.sha256,
    ).hexdigest()
    assert rows[0].row_hash == expected  # keyed: HMAC-SHA-256 under AUDIT_HMAC_KEY
    checkpoints = list(AuditCheckpoint.objects.order_by("last_seq").values())
    assert [(c["first_seq"], c["last_seq"], c["count"]) for c in checkpoints] == [
        (1, 4, 4),
        (5, 8, 4),
        (9, 10, 2),
    ]
    assert checkpoints[-1]["head_hash"] == rows[-1].row_hash
    lines = _file_lines(checkpoint_dir)
    assert [line["last_seq"] for line in lines] == [4, 8, 10]
    assert all(audit._signature_valid(line) for line in lines)
    assert access_log_verify().intact

    # A second run with nothing new seals nothing and writes no checkpoint.
    assert access_log_seal().rows == 0
    assert AuditCheckpoint.objects.count() == 3
    assert len(_file_lines(checkpoint_dir)) == 3
    assert not AccessLogPending.objects.exists()


def test_a_forged_signature_is_not_valid():
    _sealed(3)
    line = _file_lines(Path(audit._checkpoint_dir()))[0]
    assert audit._signature_valid(line)
    assert not audit._signature_valid({**line, "head_hash": "0" * 64})
    assert not audit._signature_valid({**line, "signature": "00" * 64})


def test_hmac_sm3_by_setting_and_a_chain_that_changes_algorithm_verifies(settings):
    _sealed(3)
    settings.AUDIT_HMAC_ALGORITHM = "sm3"
    _write(3)
    access_log_seal()

    last = _chain()[-1]
    cp = AuditCheckpoint.objects.order_by("last_seq").last()
    assert cp.algorithm == "hmac-sm3"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import hmac as chmac

    mac = chmac.HMAC(settings.AUDIT_HMAC_KEY.encode(), hashes.SM3())
    mac.update(
        audit._row_payload(
            last.seq, last.prev_hash, [getattr(last, c) for c in audit.ACCESS_LOG_CONTENT]
        )
    )
    assert last.row_hash == mac.finalize().hex()
    assert access_log_verify().intact


# --- the database's protection -------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "population_accesslog",
        "population_accesslogseal",
        "population_accesslogperson",
        "population_auditcheckpoint",
        "population_personevent",  # pghistory event table
        "population_citizenidcorrection",
        "registry_registrationevent",
        "registry_membershipevent",
        "settlement_applicationtransition",
    ],
)
@OWNER_BEHIND_THE_TRIGGERS
def test_truncate_is_refused(table):
    _sealed(2)
    before = AccessLog.objects.count()

    with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
        _sql(f"TRUNCATE {table} CASCADE")

    assert AccessLog.objects.count() == before == 2


def test_every_append_only_table_has_the_truncate_guard():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = 'popbase_no_truncate'"
        )
        guarded = {row[0] for row in cursor.fetchall()}
        # A partition can be truncated by its own name: each one is guarded as its table is.
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent::regclass::text = ANY(%s)",
            [audit.protected_tables()],
        )
        partitions = {row[0] for row in cursor.fetchall()}
    assert "population_accesslog_pdefault" in partitions
    assert guarded == set(audit.protected_tables()) | partitions
    assert {"population_accesslog", "population_personevent", "registry_householdevent"} <= guarded


@both_layers_refuse("append_only")
def test_an_unsealed_row_cannot_be_edited_on_its_way_to_the_seal(refusal):
    entry = _write(1)[0]
    with pytest.raises(DatabaseError, match=refusal), transaction.atomic():
        _sql("UPDATE population_accesslog SET purpose = 'x' WHERE id = %s", [entry.id])
    entry.refresh_from_db()
    assert entry.purpose == "p"
    assert AccessLogPending.objects.filter(log_id=entry.id).exists()


# --- verification: what an attacker with the tables' owner rights does ----------------------


@OWNER_BEHIND_THE_TRIGGERS
def test_an_altered_row_with_the_chain_recomputed_without_the_key_is_named():
    rows = _sealed(10)
    victim = rows[4]
    # The attacker knows the algorithm, not the key: recompute from the altered row onward.
    guess = b"the attacker's guess"
    prev = rows[3].row_hash
    statements = [
        ("UPDATE population_accesslog SET person_ids = '{999}' WHERE id = %s", [victim.id])
    ]
    for row in rows[4:]:
        content = [getattr(row, c) for c in audit.ACCESS_LOG_CONTENT]
        if row.id == victim.id:
            content[6] = [999]
        forged = hmac.new(guess, audit._row_payload(row.seq, prev, content), "sha256").hexdigest()
        statements.append(
            ("UPDATE population_accesslogseal SET row_hash = %s WHERE seq = %s", [forged, row.seq])
        )
        prev = forged
    _behind_the_triggers(*statements)

    verdict = access_log_verify()

    assert (verdict.intact, verdict.finding, verdict.seq) == (False, AuditFinding.ALTERED, 5)
    assert verdict.rows_checked == 4


@OWNER_BEHIND_THE_TRIGGERS
def test_the_newest_three_rows_deleted_are_named():
    rows = _sealed(10)
    _behind_the_triggers(*((sql, [7]) for sql in DELETE_FROM_SEQ))

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.TRUNCATED, 8)
    assert "记录只到 7" in verdict.detail
    assert rows[-1].seq == 10


@OWNER_BEHIND_THE_TRIGGERS
def test_the_tail_deleted_with_its_checkpoints_is_still_named_from_the_file():
    _sealed(10)
    _sql("ALTER TABLE population_auditcheckpoint DISABLE TRIGGER USER")
    _sql("DELETE FROM population_auditcheckpoint WHERE last_seq > 8")
    _sql("ALTER TABLE population_auditcheckpoint ENABLE TRIGGER USER")
    _behind_the_triggers(*((sql, [8]) for sql in DELETE_FROM_SEQ))

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.TRUNCATED, 9)


@OWNER_BEHIND_THE_TRIGGERS
def test_a_table_emptied_behind_the_guard_is_named_from_the_file():
    _sealed(6)
    tables = ("population_accesslog", "population_accesslogseal", "population_auditcheckpoint")
    # The owner switches the guard off on each table and on each partition of the log (a
    # partition has its own guard).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits"
            " WHERE inhparent = 'population_accesslog'::regclass"
        )
        guarded = [*tables, *(r[0] for r in cursor.fetchall())]
    for table in guarded:
        _sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    _sql(f"TRUNCATE {', '.join(tables)}")
    for table in guarded:
        _sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.TRUNCATED, 1)


@pytest.mark.parametrize("with_its_link", [True, False])
@OWNER_BEHIND_THE_TRIGGERS
def test_a_row_deleted_in_the_middle_is_named_missing(with_its_link):
    rows = _sealed(10)
    statements = [("DELETE FROM population_accesslog WHERE id = %s", [rows[5].id])]
    if with_its_link:
        statements.append(("DELETE FROM population_accesslogseal WHERE seq = %s", [6]))
    _behind_the_triggers(*statements)

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.MISSING, 6)


@OWNER_BEHIND_THE_TRIGGERS
def test_an_extra_row_inserted_into_the_chain_is_named():
    rows = _sealed(10)
    last = rows[-1]
    # A plausible row after the head, hashed with the public algorithm and a guessed key.
    at = timezone.now()
    content = [None, at, None, "", "api.persons", "p", [5], ["name"], ""]
    _behind_the_triggers(
        (
            "WITH a AS (INSERT INTO population_accesslog (at, username, channel, purpose,"
            " person_ids, fields, client) VALUES (%s, '', 'api.persons', 'p', '{5}', '{name}',"
            " '') RETURNING id)"
            " INSERT INTO population_accesslogseal (seq, log_id, row_hash)"
            " SELECT %s, id, %s FROM a",
            [
                at,
                11,
                hmac.new(
                    b"guess", audit._row_payload(11, last.row_hash, content), "sha256"
                ).hexdigest(),
            ],
        ),
    )

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.EXTRA, 11)


def test_a_row_left_unsealed_past_the_limit_is_named(settings):
    _sealed(3)
    settings.AUDIT_SEAL_MAX_DELAY_SECONDS = 60
    AccessLog.objects.create(
        at=timezone.now() - dt.timedelta(minutes=5),
        username="counter9",
        channel="admin.person",
        purpose="p",
        person_ids=[1],
        fields=["name"],
    )
    _write(1)  # a fresh one is fine: the sealer has not run yet

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.UNSEALED, None)
    assert "counter9" in verdict.detail
    assert "超过 60 秒仍未封存" in verdict.detail
    access_log_seal()
    assert access_log_verify().intact


def test_a_row_taken_out_of_the_queue_behind_its_back_is_named_unsealed(settings):
    _sealed(2)
    settings.AUDIT_SEAL_MAX_DELAY_SECONDS = 60
    hidden = AccessLog.objects.create(
        at=timezone.now() - dt.timedelta(minutes=5),
        username="counter7",
        channel="admin.person",
        purpose="p",
        person_ids=[1],
        fields=["name"],
    )
    _sql("DELETE FROM population_accesslogpending WHERE log_id = %s", [hidden.pk])
    assert access_log_seal().rows == 0  # the sealer never sees it

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.UNSEALED, None)
    assert "counter7" in verdict.detail


@OWNER_BEHIND_THE_TRIGGERS
def test_a_checkpoint_altered_in_the_database_is_named():
    _sealed(8)
    _sql("ALTER TABLE population_auditcheckpoint DISABLE TRIGGER USER")
    _sql("UPDATE population_auditcheckpoint SET head_hash = %s WHERE last_seq = 8", ["0" * 64])
    _sql("ALTER TABLE population_auditcheckpoint ENABLE TRIGGER USER")

    verdict = access_log_verify()

    assert (verdict.finding, verdict.seq) == (AuditFinding.CHECKPOINT, 5)


def test_a_checkpoint_never_anchored_in_a_file_is_named(settings, checkpoint_dir):
    _sealed(4)
    for path in checkpoint_dir.rglob("*.jsonl"):
        path.unlink()
    settings.AUDIT_SEAL_MAX_DELAY_SECONDS = 0

    verdict = access_log_verify()

    assert verdict.finding == AuditFinding.CHECKPOINT
    assert "未写入检查点文件" in verdict.detail


def test_verify_by_date_covers_the_checkpoints_sealed_in_that_range():
    _sealed(8)
    today = timezone.localdate()

    whole_day = access_log_verify(date_from=today, date_to=today)
    tomorrow = access_log_verify(date_from=today + dt.timedelta(days=1))

    assert (whole_day.intact, whole_day.rows_checked, whole_day.checkpoints_checked) == (
        True,
        8,
        2,
    )
    assert (tomorrow.intact, tomorrow.rows_checked) == (True, 0)


# --- the commands --------------------------------------------------------------------------


def test_audit_verify_command_reports_intact_and_keeps_the_result(capsys):
    _write(5)
    call_command("audit_seal", "--batch-size", "2")
    call_command("audit_verify")

    out = capsys.readouterr().out
    assert "已封存 5 条，3 批" in out
    assert "查阅日志完好 / the access log is intact" in out
    result = AuditVerification.objects.get()
    assert (result.intact, result.rows_checked, result.source) == (True, 5, "command")


@OWNER_BEHIND_THE_TRIGGERS
def test_audit_verify_command_names_the_break_and_fails():
    _sealed(6)
    _behind_the_triggers(*((sql, [3]) for sql in DELETE_FROM_SEQ))

    with pytest.raises(CommandError, match="序号 4 / sequence 4: 末尾记录被删除 / truncated"):
        call_command("audit_verify")

    result = AuditVerification.objects.get()
    assert (result.intact, result.finding, result.seq) == (False, "truncated", 4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "YYYY-MM-DD"),
        (["--from", "yesterday"], "YYYY-MM-DD"),
        (["--to", "２０２６-01-01"], "YYYY-MM-DD"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
    ],
)
def test_audit_verify_command_refuses_bad_dates(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("audit_verify", *args)
    assert not AuditVerification.objects.exists()


@pytest.mark.parametrize("size", ["0", "-5", "x", "１０"])
def test_audit_seal_command_refuses_a_bad_batch_size(size):
    _write(1)
    with pytest.raises(CommandError, match="positive integer"):
        call_command("audit_seal", "--batch-size", size)
    assert AccessLogPending.objects.count() == 1 and not AccessLogSeal.objects.exists()


def test_production_refuses_missing_audit_keys():
    env = {
        **os.environ,
        "POPBASE_ENV": "production",
        "SECRET_KEY": "s" * 50,
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    }
    env.pop("AUDIT_HMAC_KEY", None)
    code = "import config.settings"
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "AUDIT_HMAC_KEY must be set" in run.stderr
    env["AUDIT_HMAC_KEY"] = "k" * 40
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert "AUDIT_SIGNING_KEY_FILE or AUDIT_SIGNING_KEY must be set" in run.stderr


# --- two sealers at once, a sealer killed mid-batch (real processes) -------------------------


def _sealer(checkpoint_dir: Path, *args: str, app: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "AUDIT_CHECKPOINT_DIR": str(checkpoint_dir),
        "PGAPPNAME": app,
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "audit_seal", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(sql: str, params: list, timeout: float = 300, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # Inside a transaction pg_stat_activity is read once unless the snapshot is dropped.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(sql, params)
            if cursor.fetchone()[0]:
                return
        time.sleep(0.1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name, state, wait_event_type, wait_event, query"
            " FROM pg_stat_activity WHERE application_name LIKE 'popbase-test%%'"
        )
        seen = cursor.fetchall()
    output = proc.communicate(timeout=1) if proc and proc.poll() is not None else ""
    raise AssertionError(f"timed out waiting for: {sql}; sessions: {seen}; {output}")


def _assert_every_row_sealed_once(total: int, checkpoint_dir: Path) -> None:
    links = list(AccessLogSeal.objects.order_by("seq").values_list("seq", "log_id"))
    assert [seq for seq, _ in links] == list(range(1, total + 1))
    assert sorted(log_id for _, log_id in links) == list(
        AccessLog.objects.order_by("id").values_list("id", flat=True)
    )
    assert not AccessLogPending.objects.exists()
    checkpoints = list(
        AuditCheckpoint.objects.order_by("last_seq").values_list("first_seq", "last_seq")
    )
    assert checkpoints[0][0] == 1 and checkpoints[-1][1] == total
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(checkpoints))
    assert [line["last_seq"] for line in _file_lines(checkpoint_dir)] == [c[1] for c in checkpoints]
    assert access_log_verify().intact


@pytest.mark.django_db(transaction=True)
def test_two_sealers_at_once_seal_every_row_exactly_once(checkpoint_dir):
    total = 3000
    AccessLog.objects.bulk_create(
        AccessLog(at=timezone.now(), channel="t", purpose="p", person_ids=[i], fields=["a"])
        for i in range(total)
    )
    # Hold the sealers' lock so both processes are surely waiting on it at the same time.
    _sql("SELECT pg_advisory_lock(%s)", [audit.SEAL_LOCK])
    try:
        sealers = [
            _sealer(checkpoint_dir, "--batch-size", "100", app=f"popbase-test-sealer-{i}")
            for i in (1, 2)
        ]
        _wait_for(
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE application_name LIKE %s"
            " AND wait_event = 'advisory'",
            ["popbase-test-sealer-%"],
        )
    finally:
        _sql("SELECT pg_advisory_unlock(%s)", [audit.SEAL_LOCK])
    outputs = [s.communicate(timeout=120) for s in sealers]

    assert [s.returncode for s in sealers] == [0, 0], outputs
    counts = [int(out.split("已封存 ")[1].split(" ")[0]) for out, _err in outputs]
    assert sum(counts) == total
    assert min(counts) > 0  # both really sealed batches, taking turns
    _assert_every_row_sealed_once(total, checkpoint_dir)


@pytest.mark.django_db(transaction=True)
def test_a_sealer_killed_mid_batch_loses_nothing_and_the_rerun_seals_each_row_once(
    checkpoint_dir,
):
    total = 1000
    AccessLog.objects.bulk_create(
        AccessLog(at=timezone.now(), channel="t", purpose="p", person_ids=[i], fields=["a"])
        for i in range(total)
    )
    ids = list(AccessLog.objects.order_by("id").values_list("id", flat=True))
    with transaction.atomic():
        # A reader holds row 551's queue entry: the sealer's 6th batch (rows 501-600) stops on
        # it mid-batch, its links already inserted.
        _sql(
            "SELECT log_id FROM population_accesslogpending WHERE log_id = %s FOR SHARE",
            [ids[550]],
        )
        sealer = _sealer(checkpoint_dir, "--batch-size", "100", app="popbase-test-killed")
        _wait_for(
            "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = %s"
            " AND wait_event_type = 'Lock' AND wait_event <> 'advisory'",
            ["popbase-test-killed"],
            proc=sealer,
        )
        os.kill(sealer.pid, signal.SIGKILL)
        sealer.wait(timeout=30)
    assert sealer.returncode == -signal.SIGKILL
    _wait_for(
        "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = %s",
        ["popbase-test-killed"],
    )
    # The five committed batches stay; the killed one left nothing behind.
    assert AccessLogSeal.objects.count() == 500
    assert AccessLogPending.objects.count() == 500
    assert list(
        AuditCheckpoint.objects.values_list("last_seq", flat=True).order_by("last_seq")
    ) == [
        100,
        200,
        300,
        400,
        500,
    ]

    result = access_log_seal(batch_size=100)

    assert result.rows == 500
    _assert_every_row_sealed_once(total, checkpoint_dir)


def test_the_beat_task_skips_a_run_while_another_sealer_holds_the_lock():
    import psycopg

    from population.tasks import audit_seal_task, audit_verify_task

    _write(3)
    s = connection.settings_dict
    other = psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [audit.SEAL_LOCK])
        assert audit_seal_task() == {"rows": 0, "batches": 0, "busy": 1}
        assert AccessLogPending.objects.count() == 3
    finally:
        # Released here, not by close(): the server ends a closed session's backend (and its
        # session locks) a moment after the client has gone, and the next run must not race it.
        other.execute("SELECT pg_advisory_unlock(%s)", [audit.SEAL_LOCK])
        other.close()

    assert audit_seal_task() == {"rows": 3, "batches": 1, "busy": 0}
    assert audit_verify_task() == {"intact": True, "finding": "", "seq": None}
    assert AuditVerification.objects.get().source == "beat"
