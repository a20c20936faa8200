"""The set-based steps of a batch: stage with COPY, validate in SQL, upsert in chunks.

Each step is one transaction. ``stage`` (parse, COPY, validate) is all or nothing and is redone
from scratch if it was interrupted; ``apply_chunk`` upserts one range of lines, derives its
effects and moves the batch's checkpoint in the same transaction, so a run killed at any point
resumes after the last committed chunk and ends in the state of an uninterrupted run.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pghistory
import psycopg
from django.db import DataError, connection, transaction
from django.utils import timezone

from population.db_roles import STAGE_SCHEMA
from population.identity import mask_citizen_id
from population.sync import sqlchecks
from population.sync.feeds import TYPED_FIELDS, FactKind, feed_get
from population.sync.models import Batch, FollowUpKind, RejectedRow
from population.sync.parsing import Rejection, RowError, decode, iter_rows, raw_csv, row_converter

logger = logging.getLogger(__name__)

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
    rejected boolean NOT NULL DEFAULT false,
    person_id bigint,
    library_name text,
    counterpart_id bigint,
    same boolean NOT NULL DEFAULT false,
    repeated boolean NOT NULL DEFAULT false
)
"""
# Effects that go to an officer, by fact kind (kinship facts such as marriages need none).
EFFECTS = {
    FactKind.DEATH: FollowUpKind.DEATH_CANCELLATION,
    FactKind.BIRTH_CERTIFICATE: FollowUpKind.BIRTH_REGISTRATION,
}


class PhaseTimer:
    """Seconds spent per phase of a step, logged (DEBUG, ``extra={"phases": ...}``) at its end.

    The bench sums them into the phase profile it prints beside its figures.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def log(self, what: str, batch_id: int) -> None:
        logger.debug(
            "batch %s %s: %s",
            batch_id,
            what,
            ", ".join(f"{k} {v:.3f} s" for k, v in self.seconds.items()),
            extra={"phases": dict(self.seconds)},
        )


# A file larger than this goes to the server in pieces of this size (see batch_content_store).
CONTENT_PIECE_BYTES = 8 << 20


def batch_content_store(batch_id: int, content: bytes) -> None:
    """Write a batch's file: one binary parameter, or binary COPY pieces joined by the server.

    Django's client-side binding would send the bytes as a hex literal twice their size for the
    server to parse back (1.2 s for 17 MB under load, against 0.3 s). A parameter is copied whole
    into the client library's send buffer, so a large file is sent in pieces instead (binary
    COPY into a temporary table, joined in order by the server): the worker then holds the file
    once, whatever its size. The column is compressed with lz4 where the server has it
    (migration 0017).
    """
    view = memoryview(content)
    with psycopg.Cursor(connection.connection) as cursor:
        if len(view) <= CONTENT_PIECE_BYTES:
            cursor.execute(
                "UPDATE population_batch SET content = %b WHERE id = %s", [content, batch_id]
            )
            return
        cursor.execute("CREATE TEMP TABLE sync_content_pieces (n integer, piece bytea)")
        # Out of line and uncompressed: the pieces are read once, to be joined.
        cursor.execute("ALTER TABLE sync_content_pieces ALTER piece SET STORAGE EXTERNAL")
        with cursor.copy("COPY sync_content_pieces (n, piece) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            for n, start in enumerate(range(0, len(view), CONTENT_PIECE_BYTES)):
                copy.write_row((n, view[start : start + CONTENT_PIECE_BYTES]))
        cursor.execute(
            """UPDATE population_batch SET content = (
                   SELECT string_agg(piece, ''::bytea ORDER BY n) FROM sync_content_pieces)
               WHERE id = %s""",
            [batch_id],
        )
        cursor.execute("DROP TABLE sync_content_pieces")


def stage_table(batch_id: int) -> str:
    """The batch's stage table, in the schema where the runtime role may create tables
    (migration population 0026, population/db_roles.py)."""
    return f"{STAGE_SCHEMA}.sync_stage_{int(batch_id)}"


def stage_table_exists(batch_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [stage_table(batch_id)])
        return cursor.fetchone()[0]


def stage_drop(batch_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage_table(batch_id)}")


def stage(batch: Batch) -> Batch:
    """Parse the file, COPY its rows, check them set-based, keep the good ones typed for apply.

    Python checks only the structure (column count, JSON) while streaming raw values into a
    temporary table; SQL checks every value of every row in one pass (``sqlchecks.row_ok``) and
    types the good rows into the batch's staging table; the few rows SQL refuses are judged
    again in Python for the precise reason. SQL then rejects rows of persons the library does
    not know and later duplicates of a record number. Rejected rows, counts and the checkpoint
    (line 0) are written in this transaction.
    """
    timer = PhaseTimer()
    with transaction.atomic():
        batch = _stage(batch, timer)
        commit_started = time.perf_counter()
    timer.seconds["stage.commit"] = time.perf_counter() - commit_started
    timer.log("staged", batch.pk)
    return batch


def _stage(batch: Batch, timer: PhaseTimer) -> Batch:
    batch = Batch.objects.select_for_update().defer("content").get(pk=batch.pk)
    feed = feed_get(batch.feed)
    columns = feed.columns(batch.schema_version)
    table = stage_table(batch.pk)
    raw_table = f"sync_raw_{int(batch.pk)}"
    raw_columns = ", ".join(sqlchecks.raw_column(i) for i in range(len(columns)))
    today = timezone.localdate().isoformat()
    rejections: list[Rejection] = []
    received = 0
    last_line = 0
    text: str | None = None
    with connection.cursor() as cursor:
        # Room to hash the batch's record numbers and the persons it names in memory.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Fresh statistics of the facts the judgement joins, when a big load left them stale.
        with timer("stage.analyze"):
            cursor.execute(
                """SELECT n_mod_since_analyze > 0.2 * greatest(n_live_tup, 10000)
                   FROM pg_stat_user_tables WHERE relid = 'population_fact'::regclass"""
            )
            if cursor.fetchone()[0]:
                # As the owner (migration population 0027): the runtime role may not.
                cursor.execute("SELECT popbase_analyze_facts()")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(_STAGE_DDL.format(table=table))
        cursor.execute(
            f"CREATE TEMP TABLE {raw_table} (line_no integer NOT NULL, "
            + ", ".join(f"{sqlchecks.raw_column(i)} text" for i in range(len(columns)))
            + ") ON COMMIT DROP"
        )
        with timer("stage.split"):
            in_server = batch.fmt == "csv" and _plain_csv_in_server(cursor, batch)
            if in_server:
                try:
                    with transaction.atomic():
                        received, last_line = _split_in_server(
                            cursor, batch.pk, raw_table, len(columns), rejections
                        )
                except DataError:
                    # Not UTF-8 after all (a stored file changed since): decoded below, where
                    # it is refused with its reason.
                    in_server = False
        if not in_server:
            with timer("stage.decode"):
                content = Batch.objects.values_list("content", flat=True).get(pk=batch.pk)
                text, _ = decode(bytes(content))
                del content
            fast = batch.fmt == "csv" and _plain_csv(text)
            with (
                timer("stage.parse_copy"),
                cursor.cursor.copy(
                    f"COPY {raw_table} (line_no, {raw_columns}) FROM STDIN"
                    + (" (FORMAT csv, QUOTE E'\\x01')" if fast else "")
                ) as copy,
            ):
                if fast:
                    received, last_line = _copy_plain_csv(copy, text, len(columns), rejections)
                else:
                    for line_no, row in iter_rows(text, batch.fmt, columns, checked=False):
                        received += 1
                        last_line = line_no
                        if isinstance(row, Rejection):
                            rejections.append(row)
                        else:
                            copy.write_row((line_no, *row))
        # One pass judges every row: a row whose digest and person match the fact it would
        # write is unchanged and needs no checks (it passed them when it was first applied)
        # and is only counted; the other good rows are typed into the staging table with
        # their person, and the rest come back to Python.
        with timer("stage.judge"):
            cursor.execute(
                _judge_sql(columns, raw_table, table),
                {
                    "today": today,
                    "today_compact": today.replace("-", ""),
                    "kind": batch.feed,
                },
            )
            judged = cursor.fetchall()
        suspects = [row[1:] for row in judged if row[0] == _SUSPECT]
        unknown = [(row[1], row[2]) for row in judged if row[0] == _UNKNOWN]
        unchanged = sum(row[1] for row in judged if row[0] == _UNCHANGED)
        converted = 0
        if suspects:
            with timer("stage.python_judge"):
                python_rejections = _judge_in_python(
                    cursor, table, suspects, batch.fmt, text, columns
                )
            converted = len(suspects) - len(python_rejections)
            rejections.extend(python_rejections)
        if converted and unchanged:
            # A row Python typed (a padded record number, say) may repeat an unchanged row's
            # record number: the unchanged rows are staged after all, for the full checks.
            with timer("stage.unchanged_staged"):
                _stage_unchanged(cursor, columns, raw_table, table, [s[0] for s in suspects])
            unchanged = 0
        with timer("stage.index"):
            # Rows are staged in line order (Python's few come last): a block-range index
            # finds a chunk's lines at a fraction of a B-tree's build time, and the chunk's
            # statement joins nothing, so it needs no statistics.
            cursor.execute(f"CREATE INDEX ON {table} USING brin (line_no)")
        with timer("stage.checks"):
            rejections.extend(
                _validate_sql(
                    cursor,
                    table,
                    columns,
                    converted=converted,
                    unknown=unknown,
                    raw=_raw_lines(text, raw_table),
                )
            )
    # Rejected rows are append-only: a batch staged again (its unlogged staging table lost in a
    # database crash) finds the same rejections already recorded.
    with timer("stage.rejected_rows"):
        if not RejectedRow.objects.filter(batch=batch).exists():
            RejectedRow.objects.bulk_create(
                RejectedRow(
                    batch=batch, line_no=r.line_no, reason_code=r.code, reason=r.reason, raw=r.raw
                )
                for r in sorted(rejections, key=lambda r: r.line_no)
            )
    batch.received = received
    batch.rejected = len(rejections)
    batch.applied = 0
    batch.unchanged = unchanged
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


# A UTF-8 CSV's bytes, as text; the byte-order mark of the header line does not matter (the
# header is skipped), and a NUL (which PostgreSQL text cannot hold) keeps the file client-side.
_PLAIN_IN_SERVER = """
SELECT position('\\x00'::bytea IN c) = 0 AND position('\\x22'::bytea IN c) = 0
    AND (position('\\x0d'::bytea IN c) = 0 OR (
        SELECT length(t) - length(replace(t, E'\\r\\n', ''))
            = 2 * (length(t) - length(replace(t, E'\\r', '')))
        FROM convert_from(c, 'UTF8') t))
FROM (SELECT content || ''::bytea AS c FROM population_batch WHERE id = %s OFFSET 0) b
"""


def _plain_csv_in_server(cursor, batch: Batch) -> bool:
    """``_plain_csv`` on the stored file, in the server: a UTF-8 CSV it can split itself."""
    if batch.encoding not in ("utf-8", "utf-8-sig"):
        return False
    cursor.execute(_PLAIN_IN_SERVER, [batch.pk])
    return bool(cursor.fetchone()[0])


def _split_in_server(
    cursor, batch_id: int, raw_table: str, width: int, rejections: list[Rejection]
) -> tuple[int, int]:
    """Split a plain CSV where it is stored: lines, then fields at commas, into the raw table.

    The same rows as ``_copy_plain_csv`` (blank lines skipped, an empty field NULL as COPY
    reads it, a line with the wrong number of fields rejected) without the file ever being
    fetched, decoded or held by this process; (received, last line).
    """
    raw = ", ".join(sqlchecks.raw_column(i) for i in range(width))
    # One split_part per field, and each expression over the line once: the planner inlines a
    # subquery's expression at every reference (an array indexed per field, or a trimmed line,
    # would be rebuilt for every field, several times the work). A CR LF line's CR stays on
    # the last field until it is trimmed there.
    fields = [f"split_part(line, ',', {i + 1})" for i in range(width)]
    fields[-1] = f"rtrim({fields[-1]}, E'\\r')"
    fields = ", ".join(f"NULLIF({f}, '')" for f in fields)
    lines = f"""
        SELECT l.n::integer AS line_no, l.line,
            octet_length(l.line) - octet_length(replace(l.line, ',', '')) AS commas
        FROM population_batch b,
            string_to_table(convert_from(b.content, 'UTF8'), E'\\n') WITH ORDINALITY AS l(line, n)
        WHERE b.id = {int(batch_id)} AND l.n > 1 AND l.line NOT IN ('', E'\\r')"""  # noqa: S608
    # Two passes over the text (the good lines, then the counts and the few bad lines) cost
    # less than one that keeps every line for both.
    cursor.execute(
        f"""INSERT INTO {raw_table} (line_no, {raw})
            SELECT line_no, {fields} FROM ({lines}) l WHERE commas = {width - 1}"""  # noqa: S608
    )
    cursor.execute(
        f"""SELECT count(*), max(line_no),
                array_agg(line_no ORDER BY line_no) FILTER (WHERE commas <> {width - 1}),
                array_agg(rtrim(line, E'\\r') ORDER BY line_no)
                    FILTER (WHERE commas <> {width - 1})
            FROM ({lines}) l"""  # noqa: S608
    )
    received, last_line, bad_lines, bad_texts = cursor.fetchone()
    for line_no, line in zip(bad_lines or (), bad_texts or (), strict=True):
        rejections.append(_wrong_column_count(line_no, line, width))
    return received, last_line or 0


def _wrong_column_count(line_no: int, line: str, width: int) -> Rejection:
    values = line.split(",")
    return Rejection(
        line_no,
        "wrong_column_count",
        f"列数应为{width}，实际为{len(values)} / expected {width} columns, got {len(values)}",
        raw_csv(values),
    )


def _raw_lines(text: str | None, raw_table: str) -> Callable[[object, list[int]], dict[int, str]]:
    """The file's lines by number, for the reasons of rejected rows.

    From the text when this process decoded it, else (split in the server) rebuilt from the
    raw fields of a plain CSV line, which gives the line back as it was.
    """
    if text is not None:

        def from_text(cursor, line_nos: list[int]) -> dict[int, str]:
            lines = text.splitlines()
            return {n: lines[n - 1] if n <= len(lines) else "" for n in line_nos}

        return from_text

    def from_raw(cursor, line_nos: list[int]) -> dict[int, str]:
        cursor.execute(f"SELECT * FROM {raw_table} WHERE line_no = ANY(%s)", [line_nos])  # noqa: S608
        return {
            line_no: raw_csv(["" if v is None else v for v in values])
            for line_no, *values in cursor.fetchall()
        }

    return from_raw


def _plain_csv(text: str) -> bool:
    """A CSV without quotes, NULs or bare carriage returns: every line is one row.

    Such a file's rows are its lines split at commas, exactly as ``csv.reader`` reads them, so
    PostgreSQL's COPY can parse it; anything else goes through ``parsing.iter_rows``.
    """
    return (
        '"' not in text
        and "\x00" not in text
        and "\x01" not in text
        and text.count("\r") == text.count("\r\n")
    )


def _copy_plain_csv(copy, text: str, width: int, rejections: list[Rejection]) -> tuple[int, int]:
    """COPY a plain CSV's data lines with their line numbers; (received, last line).

    A line with the wrong number of fields is rejected here, as ``parsing.iter_rows`` would;
    blank lines are skipped. Lines go to the server in blocks, parsed by COPY (FORMAT csv).
    """
    received = last_line = 0
    block: list[str] = []
    lines = io.StringIO(text, newline="")
    next(lines, None)  # the header, checked when the batch was received
    for line_no, line in enumerate(lines, start=2):
        line = line.rstrip("\r\n")
        if not line:
            continue
        received += 1
        last_line = line_no
        if line.count(",") != width - 1:
            rejections.append(_wrong_column_count(line_no, line, width))
            continue
        block.append(f"{line_no},{line}\n")
        if len(block) >= 8192:
            copy.write("".join(block))
            block.clear()
    if block:
        copy.write("".join(block))
    return received, last_line


_SUSPECT, _UNKNOWN, _UNCHANGED = 0, 1, 2


def _judge_sql(columns, raw_table: str, table: str) -> str:
    """The one statement judging the raw rows (see ``stage``).

    A row is ``same`` when the fact of its record number already holds exactly what the row
    would write (``sqlchecks.same_as_fact``) for the person its citizen ID names: it passed the
    checks when it was written, so it is only counted as unchanged, not staged, unless it has
    something left to do (a name that disagrees with the library's) or its record number
    occurs more than once in the file (``repeated``: the duplicate check needs every such
    row). It returns rows of three kinds: ``_SUSPECT`` (line and raw values of a row the SQL
    checks refused, for Python), ``_UNKNOWN`` (line and citizen ID of a good row whose person
    the library does not hold) and one ``_UNCHANGED`` (the number of unstaged same rows).
    """
    raw = [sqlchecks.raw_column(i) for i in range(len(columns))]
    by_field = {c.field: raw[i] for i, c in enumerate(columns) if c.field != "detail"}
    counterpart = by_field.get("counterpart_citizen_id")
    counterpart_join = (
        f"LEFT JOIN population_person c ON c.citizen_id = r.{counterpart}" if counterpart else ""
    )
    counterpart_id = "c.id" if counterpart else "NULL::bigint"
    row_ok = sqlchecks.row_ok(
        columns,
        known={
            "citizen_id": "person_id IS NOT NULL",
            "counterpart_citizen_id": "counterpart_id IS NOT NULL",
        },
    )
    record_no = by_field["record_no"]
    nulls = ", ".join("NULL" for _ in raw[1:])
    return f"""
        WITH repeats AS (
            SELECT {record_no} AS record_no FROM {raw_table}
            GROUP BY {record_no} HAVING count(*) > 1
        ), known AS (
            SELECT r.*, p.id AS person_id, NULLIF(p.name, r.{by_field["name"]}) AS library_name,
                {counterpart_id} AS counterpart_id,
                {sqlchecks.same_as_fact(columns, counterpart_id=counterpart_id)} AS same,
                rp.record_no IS NOT NULL AS repeated
            FROM {raw_table} r
            LEFT JOIN population_person p ON p.citizen_id = r.{by_field["citizen_id"]}
            {counterpart_join}
            LEFT JOIN population_fact f
                ON f.kind = %(kind)s AND f.record_no = r.{record_no}
            LEFT JOIN repeats rp ON rp.record_no = r.{record_no}
        ), checked AS (
            SELECT k.*, same OR {row_ok} AS ok,
                same AND library_name IS NULL AND NOT repeated AS skipped
            FROM known k
        ), good AS (
            INSERT INTO {table} ({", ".join(STAGE_COLUMNS)}, person_id, library_name,
                                 counterpart_id, same, repeated)
            SELECT {sqlchecks.typed_select(columns)}, person_id, library_name, counterpart_id,
                same, repeated
            FROM checked WHERE ok AND NOT skipped)
        SELECT {_SUSPECT}, line_no, {", ".join(raw)} FROM checked WHERE NOT ok
        UNION ALL
        SELECT {_UNKNOWN}, line_no, {by_field["citizen_id"]}, {nulls}
        FROM checked WHERE ok AND person_id IS NULL
        UNION ALL
        SELECT {_UNCHANGED}, count(*)::integer, {", ".join("NULL" for _ in raw)}
        FROM checked WHERE ok AND skipped"""  # noqa: S608


def _stage_unchanged(cursor, columns, raw_table: str, table: str, suspects: list[int]) -> None:
    """Stage the unchanged rows the judgement only counted (the raw rows neither staged nor
    suspect), with their person, as it would have staged them."""
    raw = [sqlchecks.raw_column(i) for i in range(len(columns))]
    by_field = {c.field: raw[i] for i, c in enumerate(columns) if c.field != "detail"}
    counterpart = by_field.get("counterpart_citizen_id")
    counterpart_join = (
        f"LEFT JOIN population_person c ON c.citizen_id = r.{counterpart}" if counterpart else ""
    )
    cursor.execute(
        f"""INSERT INTO {table} ({", ".join(STAGE_COLUMNS)}, person_id, library_name,
                                 counterpart_id, same)
            SELECT {sqlchecks.typed_select(columns)}, p.id, NULL,
                {"c.id" if counterpart else "NULL::bigint"}, true
            FROM {raw_table} r
            JOIN population_person p ON p.citizen_id = r.{by_field["citizen_id"]}
            {counterpart_join}
            WHERE r.line_no <> ALL(%s)
              AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.line_no = r.line_no)""",  # noqa: S608
        [suspects],
    )


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


def _validate_sql(
    cursor, table: str, columns, *, converted: int, unknown: list[tuple[int, str]], raw
) -> list[Rejection]:
    """Set-based checks over the staged rows; marks them rejected and returns the reasons.

    ``unknown`` are the rows whose person the judgement did not find.
    """
    found: dict[int, tuple[str, str]] = {}
    # A record number twice in one batch: the first occurrence applies, later ones are refused
    # (an upsert cannot touch one row twice in a statement, and the order would be arbitrary).
    # The judgement marked the rows whose raw record number repeats; rows typed in Python may
    # have had theirs trimmed, so with them every staged row is compared.
    only = "" if converted else "WHERE repeated"
    cursor.execute(
        f"""SELECT s.line_no, d.first_line FROM {table} s
            JOIN (SELECT record_no, min(line_no) AS first_line FROM {table} {only}
                  GROUP BY record_no HAVING count(*) > 1) d USING (record_no)
            WHERE s.line_no <> d.first_line"""  # noqa: S608
    )
    for line_no, first_line in cursor.fetchall():
        found[line_no] = (
            "duplicate_record",
            f"记录号与第{first_line}行重复 / record number repeats line {first_line}",
        )
    # Rows typed by the Python checks (a 15-digit ID, a lower-case x) come without their
    # person; the judgement found the others' in its one join.
    if converted:
        cursor.execute(
            f"""UPDATE {table} s SET person_id = p.id, library_name = NULLIF(p.name, s.name)
                FROM population_person p
                WHERE s.person_id IS NULL AND p.citizen_id = s.citizen_id"""  # noqa: S608
        )
    if converted and any(c.field == "counterpart_citizen_id" for c in columns):
        cursor.execute(
            f"""UPDATE {table} s SET counterpart_id = c.id FROM population_person c
                WHERE s.counterpart_id IS NULL AND s.counterpart_citizen_id IS NOT NULL
                  AND c.citizen_id = s.counterpart_citizen_id"""  # noqa: S608
        )
    if converted:
        cursor.execute(
            f"""SELECT line_no, citizen_id FROM {table}
                WHERE person_id IS NULL AND line_no <> ALL(%s)""",  # noqa: S608
            [[line_no for line_no, _ in unknown]],
        )
        unknown = [*unknown, *cursor.fetchall()]
    for line_no, citizen_id in unknown:
        found.setdefault(
            line_no,
            (
                "unknown_person",
                f"人口库中没有身份号码{mask_citizen_id(citizen_id)} / "
                f"no person with citizen ID {mask_citizen_id(citizen_id)}",
            ),
        )
    if not found:
        return []
    cursor.execute(
        f"UPDATE {table} SET rejected = true WHERE line_no = ANY(%s)",  # noqa: S608
        [sorted(found)],
    )
    lines = raw(cursor, sorted(found))
    return [
        Rejection(line_no, code, reason, lines.get(line_no, ""))
        for line_no, (code, reason) in found.items()
    ]


_UPSERT = """
WITH src AS (
    SELECT s.* FROM {table} s
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
    FROM src WHERE NOT same
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
    FROM src WHERE library_name IS NOT NULL
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM src), (SELECT count(*) FROM up),
       (SELECT count(*) FROM effects), (SELECT count(*) FROM disagreements)
"""


def apply_chunk(
    batch_id: int, *, chunk_rows: int, timer: PhaseTimer | None = None
) -> tuple[Batch, bool]:
    """Upsert the next range of lines and move the checkpoint; (batch, finished)."""
    timer = timer or PhaseTimer()
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
            # A chunk lost in a server crash is lost with its checkpoint and redone on resume;
            # the batch's final commit (services.batch_process) is synchronous and flushes all.
            cursor.execute("SET LOCAL synchronous_commit = off")
            upsert_started = time.perf_counter()
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
            timer.seconds["apply.upsert"] = (
                timer.seconds.get("apply.upsert", 0.0) + time.perf_counter() - upsert_started
            )
        batch.applied += changed
        batch.unchanged += valid - changed
        batch.committed_line = hi
        batch.save(update_fields=["applied", "unchanged", "committed_line"])
        commit_started = time.perf_counter()
    timer.seconds["apply.commit"] = (
        timer.seconds.get("apply.commit", 0.0) + time.perf_counter() - commit_started
    )
    return batch, hi >= batch.last_line


def apply_all(
    batch_id: int,
    *,
    chunk_rows: int,
    pause: float = 0.0,
    progress: Callable[[Batch], None] | None = None,
) -> Batch:
    timer = PhaseTimer()
    while True:
        batch, finished = apply_chunk(batch_id, chunk_rows=chunk_rows, timer=timer)
        if progress:
            progress(batch)
        if finished:
            timer.log("applied", batch_id)
            return batch
        if pause:
            time.sleep(pause)
