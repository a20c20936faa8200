"""The set-based steps of a batch: stage with COPY, validate in SQL, upsert in chunks.

Each step is one transaction. ``stage`` (parse, COPY, validate) is all or nothing and is redone
from scratch if it was interrupted; ``apply_chunk`` upserts one range of lines, derives its
effects and moves the batch's checkpoint in the same transaction, so a run killed at any point
resumes after the last committed chunk and ends in the state of an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable

import pghistory
from django.db import connection, transaction
from django.utils import timezone

from population.identity import mask_citizen_id
from population.sync import sqlchecks
from population.sync.feeds import TYPED_FIELDS, FactKind, feed_get
from population.sync.models import Batch, FollowUpKind, RejectedRow
from population.sync.parsing import Rejection, RowError, decode, iter_rows, raw_csv, row_converter

STAGE_COLUMNS = ("line_no", *TYPED_FIELDS, "detail")
_STAGE_DDL = """
CREATE UNLOGGED TABLE {table} (
    line_no integer NOT NULL,
    record_no text NOT NULL,
    citizen_id text NOT NULL,
    name text NOT NULL,
    counterpart_citizen_id text,
    org text,
    region_code text,
    event_date date,
    valid_from date,
    valid_to date,
    months integer,
    amount numeric(14, 2),
    detail jsonb NOT NULL,
    rejected boolean NOT NULL DEFAULT false
)
"""
# Effects that go to an officer, by fact kind (kinship facts such as marriages need none).
EFFECTS = {
    FactKind.DEATH: FollowUpKind.DEATH_CANCELLATION,
    FactKind.BIRTH_CERTIFICATE: FollowUpKind.BIRTH_REGISTRATION,
}


def stage_table(batch_id: int) -> str:
    return f"sync_stage_{int(batch_id)}"


def stage_table_exists(batch_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [stage_table(batch_id)])
        return cursor.fetchone()[0]


def stage_drop(batch_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage_table(batch_id)}")


@transaction.atomic
def stage(batch: Batch) -> Batch:
    """Parse the file, COPY its rows, check them set-based, keep the good ones typed for apply.

    Python checks only the structure (column count, JSON) while streaming raw values into a
    temporary table; SQL checks every value of every row in one pass (``sqlchecks.row_ok``) and
    types the good rows into the batch's staging table; the few rows SQL refuses are judged
    again in Python for the precise reason. SQL then rejects rows of persons the library does
    not know and later duplicates of a record number. Rejected rows, counts and the checkpoint
    (line 0) are written in this transaction.
    """
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    feed = feed_get(batch.feed)
    columns = feed.columns(batch.schema_version)
    text, _ = decode(bytes(batch.content))
    table = stage_table(batch.pk)
    raw_table = f"sync_raw_{int(batch.pk)}"
    raw_columns = ", ".join(sqlchecks.raw_column(i) for i in range(len(columns)))
    today = timezone.localdate().isoformat()
    rejections: list[Rejection] = []
    received = 0
    last_line = 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(_STAGE_DDL.format(table=table))
        cursor.execute(
            f"CREATE TEMP TABLE {raw_table} (line_no integer NOT NULL, "
            + ", ".join(f"{sqlchecks.raw_column(i)} text" for i in range(len(columns)))
            + ") ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {raw_table} (line_no, {raw_columns}) FROM STDIN") as copy:
            for line_no, row in iter_rows(text, batch.fmt, columns, checked=False):
                received += 1
                last_line = line_no
                if isinstance(row, Rejection):
                    rejections.append(row)
                else:
                    copy.write_row((line_no, *row))
        # One pass judges every row: the good ones are typed into the staging table, the others
        # come back to Python.
        cursor.execute(
            f"""WITH judged AS (
                    SELECT r.*, {sqlchecks.row_ok(columns)} AS ok FROM {raw_table} r),
                good AS (
                    INSERT INTO {table} ({", ".join(STAGE_COLUMNS)})
                    SELECT {sqlchecks.typed_select(columns)} FROM judged WHERE ok)
                SELECT line_no, {raw_columns} FROM judged WHERE NOT ok""",  # noqa: S608
            {"today": today, "today_compact": today.replace("-", "")},
        )
        suspects = cursor.fetchall()
        if suspects:
            rejections.extend(_judge_in_python(cursor, table, suspects, batch.fmt, text, columns))
        cursor.execute(f"CREATE INDEX ON {table} (line_no)")
        # Statistics now, not when autovacuum comes by: without them the planner joins the first
        # chunk's upsert badly (minutes instead of a second for 50,000 changed rows).
        cursor.execute(f"ANALYZE {table}")
        rejections.extend(_validate_sql(cursor, table, text))
    # Rejected rows are append-only: a batch staged again (its unlogged staging table lost in a
    # database crash) finds the same rejections already recorded.
    if not RejectedRow.objects.filter(batch=batch).exists():
        RejectedRow.objects.bulk_create(
            RejectedRow(
                batch=batch, line_no=r.line_no, reason_code=r.code, reason=r.reason, raw=r.raw
            )
            for r in sorted(rejections, key=lambda r: r.line_no)
        )
    batch.received = received
    batch.rejected = len(rejections)
    batch.applied = batch.unchanged = 0
    batch.last_line = last_line
    batch.committed_line = 0
    batch.staged_at = timezone.now()
    batch.save(
        update_fields=[
            "received",
            "rejected",
            "applied",
            "unchanged",
            "last_line",
            "committed_line",
            "staged_at",
        ]
    )
    return batch


def _judge_in_python(cursor, table, suspects, fmt, text, columns) -> list[Rejection]:
    """Rows the SQL pass refused: the Python checks give the reason, or convert the row."""
    convert = row_converter(columns)
    lines = text.splitlines() if fmt != "csv" else None
    rejections, good = [], []
    for line_no, *values in suspects:
        values = ["" if v is None else v for v in values]
        try:
            good.append((line_no, *convert(values)))
        except RowError as exc:
            raw = raw_csv(values) if lines is None else lines[line_no - 1]
            rejections.append(Rejection(line_no, exc.code, exc.reason, raw))
    if good:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            for row in good:
                copy.write_row(row)
    return rejections


def _validate_sql(cursor, table: str, text: str) -> list[Rejection]:
    """Set-based checks over the staged rows; marks them rejected and returns the reasons."""
    lines = text.splitlines()
    found: dict[int, Rejection] = {}
    # A record number twice in one batch: the first occurrence applies, later ones are refused
    # (an upsert cannot touch one row twice in a statement, and the order would be arbitrary).
    cursor.execute(
        f"""SELECT line_no, first_line FROM (
                SELECT line_no, min(line_no) OVER (PARTITION BY record_no) AS first_line
                FROM {table}) t
            WHERE line_no <> first_line"""  # noqa: S608
    )
    for line_no, first_line in cursor.fetchall():
        found[line_no] = Rejection(
            line_no,
            "duplicate_record",
            f"记录号与第{first_line}行重复 / record number repeats line {first_line}",
            lines[line_no - 1] if line_no <= len(lines) else "",
        )
    cursor.execute(
        f"""SELECT s.line_no, s.citizen_id FROM {table} s
            WHERE NOT EXISTS (
                SELECT 1 FROM population_person p WHERE p.citizen_id = s.citizen_id)"""  # noqa: S608
    )
    for line_no, citizen_id in cursor.fetchall():
        found.setdefault(
            line_no,
            Rejection(
                line_no,
                "unknown_person",
                f"人口库中没有身份号码{mask_citizen_id(citizen_id)} / "
                f"no person with citizen ID {mask_citizen_id(citizen_id)}",
                lines[line_no - 1] if line_no <= len(lines) else "",
            ),
        )
    if found:
        cursor.execute(
            f"UPDATE {table} SET rejected = true WHERE line_no = ANY(%s)",  # noqa: S608
            [sorted(found)],
        )
    return list(found.values())


_UPSERT = """
WITH src AS (
    SELECT s.*, p.id AS person_id, p.name AS library_name, c.id AS counterpart_id
    FROM {table} s
    JOIN population_person p ON p.citizen_id = s.citizen_id
    LEFT JOIN population_person c ON c.citizen_id = s.counterpart_citizen_id
    WHERE s.line_no > %(lo)s AND s.line_no <= %(hi)s AND NOT s.rejected
), up AS (
    INSERT INTO population_fact AS f (
        kind, record_no, department, person_id, reported_name, counterpart_citizen_id,
        counterpart_id, org, region_code, event_date, valid_from, valid_to, months, amount,
        detail, batch_id, created_at, updated_at)
    SELECT %(kind)s, record_no, %(department)s, person_id, name,
        coalesce(counterpart_citizen_id, ''), counterpart_id, coalesce(org, ''),
        coalesce(region_code, ''), event_date, valid_from, valid_to, months, amount, detail,
        %(batch)s, %(now)s, %(now)s
    FROM src
    ON CONFLICT (kind, record_no) DO UPDATE SET
        person_id = EXCLUDED.person_id,
        reported_name = EXCLUDED.reported_name,
        counterpart_citizen_id = EXCLUDED.counterpart_citizen_id,
        counterpart_id = EXCLUDED.counterpart_id,
        org = EXCLUDED.org,
        region_code = EXCLUDED.region_code,
        event_date = EXCLUDED.event_date,
        valid_from = EXCLUDED.valid_from,
        valid_to = EXCLUDED.valid_to,
        months = EXCLUDED.months,
        amount = EXCLUDED.amount,
        detail = EXCLUDED.detail,
        batch_id = EXCLUDED.batch_id,
        updated_at = EXCLUDED.updated_at
    WHERE (f.person_id, f.reported_name, f.counterpart_citizen_id, f.counterpart_id, f.org,
           f.region_code, f.event_date, f.valid_from, f.valid_to, f.months, f.amount, f.detail)
        IS DISTINCT FROM
          (EXCLUDED.person_id, EXCLUDED.reported_name, EXCLUDED.counterpart_citizen_id,
           EXCLUDED.counterpart_id, EXCLUDED.org, EXCLUDED.region_code, EXCLUDED.event_date,
           EXCLUDED.valid_from, EXCLUDED.valid_to, EXCLUDED.months, EXCLUDED.amount,
           EXCLUDED.detail)
    RETURNING f.id, f.person_id
), effects AS (
    INSERT INTO population_followup (
        kind, status, person_id, fact_id, batch_id, department, field, reported_value,
        library_value, dedupe_key, created_at, note)
    SELECT %(effect)s, 'open', up.person_id, up.id, %(batch)s, %(department)s, '', '', '',
        %(effect)s || ':' || up.id, %(now)s, ''
    FROM up WHERE %(effect)s <> ''
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1
), disagreements AS (
    -- The name belongs to 公安: a department's differing name is reported, never written.
    INSERT INTO population_followup (
        kind, status, person_id, fact_id, batch_id, department, field, reported_value,
        library_value, dedupe_key, created_at, note)
    SELECT 'reconciliation', 'open', person_id, NULL, %(batch)s, %(department)s, 'person.name',
        name, library_name,
        'person.name:' || person_id || ':' || %(department)s || ':' || md5(name), %(now)s, ''
    FROM src WHERE name <> library_name
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM up),
       (SELECT count(*) FROM effects), (SELECT count(*) FROM disagreements)
"""


def apply_chunk(batch_id: int, *, chunk_rows: int) -> tuple[Batch, bool]:
    """Upsert the next range of lines and move the checkpoint; (batch, finished)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().defer("content").get(pk=batch_id)
        lo = batch.committed_line
        if lo >= batch.last_line:
            return batch, True
        hi = min(batch.last_line, lo + chunk_rows)
        with (
            pghistory.context(reason="部门数据同步", batch=batch.pk, department=batch.department),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                _UPSERT.format(table=stage_table(batch.pk)),
                {
                    "lo": lo,
                    "hi": hi,
                    "kind": batch.feed,
                    "department": batch.department,
                    "batch": batch.pk,
                    "now": timezone.now(),
                    "effect": EFFECTS.get(batch.feed, ""),
                },
            )
            valid, changed, _, _ = cursor.fetchone()
        batch.applied += changed
        batch.unchanged += valid - changed
        batch.committed_line = hi
        batch.save(update_fields=["applied", "unchanged", "committed_line"])
    return batch, hi >= batch.last_line


def apply_all(
    batch_id: int,
    *,
    chunk_rows: int,
    pause: float = 0.0,
    progress: Callable[[Batch], None] | None = None,
) -> Batch:
    import time

    # Fresh statistics of the fact table: right after a big load, the stale ones make the
    # history trigger's join of old and new rows take minutes per chunk instead of a second.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE population_fact")
    while True:
        batch, finished = apply_chunk(batch_id, chunk_rows=chunk_rows)
        if progress:
            progress(batch)
        if finished:
            return batch
        if pause:
            time.sleep(pause)
