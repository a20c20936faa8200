"""The set-based steps of a batch: stage with COPY, validate in SQL, upsert in chunks.

Each step is one transaction. ``stage`` (parse, COPY, validate) is all or nothing and is redone
from scratch if it was interrupted; ``apply_chunk`` upserts one range of lines, derives its
effects and moves the batch's checkpoint in the same transaction, so a run killed at any point
resumes after the last committed chunk and ends in the state of an uninterrupted run.
"""

from __future__ import annotations

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
from population.sync.parsing import (
    MAX_LINE_BYTES,
    MAX_RAW_CHARS,
    Rejection,
    RowError,
    blocks_of,
    detect_encoding,
    iter_rows,
    line_too_long,
    raw_csv,
    row_converter,
)

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
# The stored file is read back in blocks of this size.
CONTENT_READ_BYTES = 1 << 20


def batch_content_store(batch_id: int, content) -> None:
    """Write a batch's file: one binary parameter, or binary COPY pieces joined by the server.

    Django's client-side binding would send the bytes as a hex literal twice their size for the
    server to parse back (1.2 s for 17 MB under load, against 0.3 s). A parameter is copied whole
    into the client library's send buffer, so a large file is sent in pieces instead (binary
    COPY into a temporary table, joined in order by the server): the worker then holds the file
    once, whatever its size, or never whole when ``content`` gives its blocks (see
    ``parsing.blocks_of``). The column is compressed with lz4 where the server has it
    (migration 0017).
    """
    with psycopg.Cursor(connection.connection) as cursor:
        if isinstance(content, bytes | bytearray | memoryview) and (
            len(content) <= CONTENT_PIECE_BYTES
        ):
            cursor.execute(
                "UPDATE population_batch SET content = %b WHERE id = %s", [content, batch_id]
            )
            return
        cursor.execute("CREATE TEMP TABLE sync_content_pieces (n integer, piece bytea)")
        # Out of line and uncompressed: the pieces are read once, to be joined.
        cursor.execute("ALTER TABLE sync_content_pieces ALTER piece SET STORAGE EXTERNAL")
        with cursor.copy("COPY sync_content_pieces (n, piece) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            for n, piece in enumerate(_pieces(content)):
                copy.write_row((n, piece))
        cursor.execute(
            """UPDATE population_batch SET content = (
                   SELECT string_agg(piece, ''::bytea ORDER BY n) FROM sync_content_pieces)
               WHERE id = %s""",
            [batch_id],
        )
        cursor.execute("DROP TABLE sync_content_pieces")


def _pieces(content) -> Iterator[bytes | memoryview]:
    if isinstance(content, bytes | bytearray | memoryview):
        view = memoryview(content)
        for start in range(0, len(view), CONTENT_PIECE_BYTES):
            yield view[start : start + CONTENT_PIECE_BYTES]
        return
    yield from blocks_of(content)


def batch_content_blocks(batch_id: int) -> Callable[[], Iterator[bytes]]:
    """The stored file of a batch as a function giving its blocks (``parsing.blocks_of``).

    The server detoasts the file once and sends it in blocks through a server-side cursor
    inside the current transaction: this process holds one block at a time.
    """

    def blocks() -> Iterator[bytes]:
        with connection.connection.cursor(
            name=f"sync_content_{int(batch_id)}", binary=True
        ) as cursor:
            cursor.itersize = 1
            cursor.execute(
                """SELECT substring(b.c FROM n FOR %s)
                   FROM (SELECT content || ''::bytea AS c FROM population_batch
                         WHERE id = %s OFFSET 0) b,
                        generate_series(1, octet_length(b.c), %s) n
                   ORDER BY n""",
                [CONTENT_READ_BYTES, batch_id, CONTENT_READ_BYTES],
            )
            for (block,) in cursor:
                yield bytes(block)

    return blocks


def stage_table(batch_id: int) -> str:
    """The batch's stage table, in the schema where the runtime role may create tables
    (migration population 0030, population/db_roles.py)."""
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
    received = 0
    last_line = 0
    with connection.cursor() as cursor:
        # Room to hash the batch's record numbers and the persons it names in memory.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # The judgement is planned with the file's real size (see _file_lines_function), which
        # passes the JIT threshold: compiling its expressions costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        # Fresh statistics of the facts the judgement joins, when a big load left them stale.
        with timer("stage.analyze"):
            cursor.execute(
                """SELECT n_mod_since_analyze > 0.2 * greatest(n_live_tup, 10000)
                   FROM pg_stat_user_tables WHERE relid = 'population_fact'::regclass"""
            )
            if cursor.fetchone()[0]:
                # As the owner (migration population 0031): the runtime role may not.
                cursor.execute("SELECT popbase_analyze_facts()")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(_STAGE_DDL.format(table=table))
        params = {"today": today, "today_compact": today.replace("-", ""), "kind": batch.feed}
        # Every rejection goes to a temporary table as it is found (``_Spill``) and from there
        # to the rejected rows in one statement: none is held beyond a slice of them.
        spill = _Spill(cursor, batch.pk)
        judged = _judged_table(batch.pk)
        cursor.execute(
            f"CREATE TEMP TABLE {judged} (kind integer, n integer, "
            + ", ".join(f"v{i} text" for i in range(len(columns)))
            + ") ON COMMIT DROP"
        )
        in_server = False
        if batch.fmt == "csv":
            # A plain UTF-8 CSV is judged straight from its stored lines, split into fields by
            # the server inside the judgement: the file is never fetched by this process and
            # its rows are never written to an intermediate table.
            with timer("stage.judge"):
                try:
                    with transaction.atomic():
                        in_server = _plain_csv_in_server(cursor, batch)
                        if in_server:
                            _file_lines_function(cursor, batch.size_bytes // _LINE_BYTES)
                            cursor.execute(
                                _judge_sql(columns, table, judged, batch_id=batch.pk), params
                            )
                except DataError:
                    # Not all UTF-8 (a few undecodable lines, or a stored file changed since):
                    # read below, where each such line is a rejected row, or the file refused.
                    in_server = False
        if not in_server:
            _raw_table_create(cursor, raw_table, len(columns))
            with timer("stage.parse_copy"):
                received, last_line = _copy_rows(
                    cursor, batch, columns, raw_table, raw_columns, spill
                )
            # One pass judges every row (see _judge_sql).
            with timer("stage.judge"):
                cursor.execute(_judge_sql(columns, table, judged, raw_table=raw_table), params)
        else:
            cursor.execute(f"SELECT n, v0 FROM {judged} WHERE kind = {_RECEIVED}")  # noqa: S608
            received, last_line = cursor.fetchone()
            last_line = int(last_line or 0)
        cursor.execute(f"SELECT coalesce(sum(n), 0) FROM {judged} WHERE kind = {_UNCHANGED}")  # noqa: S608
        unchanged = int(cursor.fetchone()[0])
        width = len(columns)
        for line_no, line, size in _stream(
            f"SELECT n, v0, v1 FROM {judged} WHERE kind = {_BAD_COLUMNS}"  # noqa: S608
        ):
            if size is not None:  # over the line length bound: only its beginning
                spill.add(line_too_long(line_no, int(size), line))
            else:
                spill.add(_wrong_column_count(line_no, line, width))
        converted = 0
        with timer("stage.python_judge"):
            values = ", ".join(f"v{i}" for i in range(width))
            suspects = f"SELECT n, {values} FROM {judged} WHERE kind = {_SUSPECT}"  # noqa: S608
            for chunk in _stream_chunks(suspects):
                python_rejections = _judge_in_python(cursor, table, chunk, columns)
                converted += len(chunk) - len(python_rejections)
                for rejection in python_rejections:
                    spill.add(rejection)
        if converted and unchanged:
            # A row Python typed (a padded record number, say) may repeat an unchanged row's
            # record number: the unchanged rows are staged after all, for the full checks.
            with timer("stage.unchanged_staged"):
                if in_server:
                    _raw_table_create(cursor, raw_table, len(columns))
                    _file_lines_function(cursor, batch.size_bytes // _LINE_BYTES)
                    _raw_table_fill(cursor, batch.pk, raw_table, len(columns))
                _stage_unchanged(cursor, columns, raw_table, table, judged)
            unchanged = 0
        with timer("stage.index"):
            # Rows are staged in line order (Python's few come last): a block-range index
            # finds a chunk's lines at a fraction of a B-tree's build time, and the chunk's
            # statement joins nothing, so it needs no statistics.
            cursor.execute(f"CREATE INDEX ON {table} USING brin (line_no)")
        with timer("stage.checks"):
            _validate_sql(
                cursor,
                table,
                columns,
                converted=converted,
                judged=judged,
                raw=_raw_lines(batch.pk, len(columns), None if in_server else raw_table),
                spill=spill,
            )
        spill.flush()
    # Rejected rows are append-only: a batch staged again (its unlogged staging table lost in a
    # database crash) finds the same rejections already recorded.
    with timer("stage.rejected_rows"):
        if not RejectedRow.objects.filter(batch=batch).exists():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""INSERT INTO population_rejectedrow
                            (batch_id, line_no, reason_code, reason, raw)
                        SELECT %s, line_no, reason_code, reason, raw
                        FROM {spill.table} ORDER BY line_no""",  # noqa: S608
                    [batch.pk],
                )
    batch.received = received
    batch.rejected = spill.count
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


def _split_sql(batch_id: int, width: int) -> str:
    """The rows of a plain CSV where it is stored: its lines, split into fields at commas.

    Columns ``line_no``, ``bad_line`` (the line, without its CR, when it has the wrong number
    of fields, or its beginning when it is over the line length bound, as the line reader
    rejects it; NULL otherwise), ``bad_size`` (the length of a line over the bound) and
    ``c0..cN`` (an empty field NULL, as COPY reads it); blank
    lines are skipped, as ``_copy_plain_csv`` and ``parsing.iter_rows`` skip them. The file is
    never fetched, decoded or held by this process.
    """
    # One split_part per field, and each expression over the line once: the planner inlines a
    # subquery's expression at every reference (an array indexed per field, or a trimmed line,
    # would be rebuilt for every field, several times the work). A CR LF line's CR stays on
    # the last field until it is trimmed there.
    fields = [f"split_part(l.line, ',', {i + 1})" for i in range(width)]
    fields[-1] = f"rtrim({fields[-1]}, E'\\r')"
    fields = ", ".join(
        f"NULLIF({f}, '') AS {sqlchecks.raw_column(i)}" for i, f in enumerate(fields)
    )
    return f"""
        SELECT l.n::integer AS line_no,
            CASE WHEN octet_length(l.line) > {MAX_LINE_BYTES} THEN left(l.line, {MAX_RAW_CHARS})
                WHEN octet_length(l.line) - octet_length(replace(l.line, ',', '')) <> {width - 1}
                THEN rtrim(l.line, E'\\r') END AS bad_line,
            CASE WHEN octet_length(l.line) > {MAX_LINE_BYTES} THEN octet_length(l.line)
                END AS bad_size,
            {fields}
        FROM pg_temp.sync_file_lines({int(batch_id)}) l
        WHERE l.n > 1 AND l.line NOT IN ('', E'\\r')"""  # noqa: S608


def _file_lines_function(cursor, estimate: int) -> None:
    """``pg_temp.sync_file_lines(batch)``: a stored file's lines (UTF-8) with their numbers.

    A function only to tell the planner how many lines to expect (``string_to_table`` alone
    counts as 1,000 rows, which plans the judgement's joins as nested loops and its person
    join the wrong way round, losing the line order the staging's block-range index needs).
    """
    cursor.execute(
        f"""CREATE OR REPLACE FUNCTION pg_temp.sync_file_lines(batch bigint)
            RETURNS TABLE (n bigint, line text) LANGUAGE plpgsql STABLE
            ROWS {max(int(estimate), 1)} AS $fn$
            BEGIN
                RETURN QUERY SELECT l.num, l.txt FROM population_batch b,
                    string_to_table(convert_from(b.content, 'UTF8'), E'\\n')
                        WITH ORDINALITY AS l(txt, num)
                WHERE b.id = batch;
            END $fn$"""  # noqa: S608 (a number)
    )


# Bytes per line assumed to estimate a file's lines for the planner (feed rows are 40-200).
_LINE_BYTES = 64


def _raw_table_create(cursor, raw_table: str, width: int) -> None:
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {raw_table} (line_no integer NOT NULL, "
        + ", ".join(f"{sqlchecks.raw_column(i)} text" for i in range(width))
        + ") ON COMMIT DROP"
    )


def _raw_table_fill(cursor, batch_id: int, raw_table: str, width: int) -> None:
    """The raw rows of a file judged in the server, for the rare step that needs them again."""
    raw = ", ".join(sqlchecks.raw_column(i) for i in range(width))
    cursor.execute(
        f"""INSERT INTO {raw_table} (line_no, {raw})
            SELECT line_no, {raw} FROM ({_split_sql(batch_id, width)}) l
            WHERE bad_line IS NULL"""  # noqa: S608
    )


def _wrong_column_count(line_no: int, line: str, width: int) -> Rejection:
    values = line.split(",")
    return Rejection(
        line_no,
        "wrong_column_count",
        f"列数应为{width}，实际为{len(values)} / expected {width} columns, got {len(values)}",
        raw_csv(values),
    )


def _raw_lines(batch_id: int, width: int, raw_table: str | None = None):
    """The file's lines of rejected rows ``f``, as (join, its parameters, select list, and the
    function giving the line from the selected values): the line is empty where none is found.

    From the raw fields of the rows this process streamed into ``raw_table`` (the line rebuilt
    as CSV); else (judged in the server) read from the stored file by the server.
    """
    if raw_table is not None:
        raw = ", ".join(f"r.{sqlchecks.raw_column(i)}" for i in range(width))

        def from_raw(values) -> str:
            if values[0] is None:
                return ""
            return raw_csv(["" if v is None else v for v in values[1:]])

        join = f"LEFT JOIN {raw_table} r ON r.line_no = f.line_no"
        return join, None, f"r.line_no, {raw}", from_raw

    join = """LEFT JOIN (
            SELECT l.n::integer AS line_no, rtrim(l.line, E'\\r') AS line
            FROM population_batch b,
                string_to_table(convert_from(b.content, 'UTF8'), E'\\n')
                    WITH ORDINALITY AS l(line, n)
            WHERE b.id = %s) l ON l.line_no = f.line_no"""
    return join, [batch_id], "l.line", lambda values: values[0] or ""


# Rows go to the server in COPY statements of about this many bytes: the stored file is read
# through a server-side cursor, which cannot fetch while a COPY is in progress.
_COPY_BLOCK_BYTES = 4 << 20


# Rejections are written to the spill table in COPY statements of at most this many rows (or
# _COPY_BLOCK_BYTES of text), so a file of bad rows does not hold them in memory.
_REJECTION_SPILL_ROWS = 5000
# Rows read back from the server at a time (a row may hold a line of up to MAX_LINE_BYTES).
_FETCH_ROWS = 256


def _spill_table(batch_id: int) -> str:
    return f"sync_rejected_{int(batch_id)}"


def _judged_table(batch_id: int) -> str:
    return f"sync_judged_{int(batch_id)}"


class _Spill:
    """The batch's rejections, written to a temporary table in slices as they are found; the
    rejected rows are filled from it in one statement, in line order."""

    def __init__(self, cursor, batch_id: int) -> None:
        self.cursor = cursor
        self.table = _spill_table(batch_id)
        self.count = 0
        self._held: list[Rejection] = []
        self._size = 0
        cursor.execute(
            f"""CREATE TEMP TABLE {self.table}
                    (line_no integer, reason_code text, reason text, raw text) ON COMMIT DROP"""
        )

    def add(self, rejection: Rejection) -> None:
        self._held.append(rejection)
        self._size += len(rejection.raw) + len(rejection.reason)
        if len(self._held) >= _REJECTION_SPILL_ROWS or self._size >= _COPY_BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._held:
            return
        with self.cursor.cursor.copy(
            f"COPY {self.table} (line_no, reason_code, reason, raw) FROM STDIN"
        ) as copy:
            for r in self._held:
                copy.write_row((r.line_no, r.code, r.reason, r.raw))
        self.count += len(self._held)
        self._held.clear()
        self._size = 0


def _stream_chunks(sql: str, params=None) -> Iterator[list[tuple]]:
    """The rows of ``sql`` through a server-side cursor, ``_FETCH_ROWS`` at a time. Between two
    fetches the connection is free for other statements (a COPY to the spill table)."""
    with connection.connection.cursor(name="sync_stream") as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(_FETCH_ROWS):
            yield chunk


def _stream(sql: str, params=None) -> Iterator[tuple]:
    for chunk in _stream_chunks(sql, params):
        yield from chunk


def _copy_rows(cursor, batch: Batch, columns, raw_table, raw_columns, spill) -> tuple[int, int]:
    """Stream the stored file through ``parsing.iter_rows`` into the raw table; (received,
    last line). The file is read block by block and each line is bounded; bad rows (too long,
    undecodable, NUL, unclosed quote, wrong structure) go to the spill table as they come and
    the rest goes on: the memory this takes does not grow with the file."""
    received = last_line = 0
    rows: list[tuple] = []
    size = 0

    def flush() -> None:
        if rows:
            with cursor.cursor.copy(
                f"COPY {raw_table} (line_no, {raw_columns}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            rows.clear()

    content = batch_content_blocks(batch.pk)
    # The stored file as it was received: one that changed since is refused, never read garbled.
    detect_encoding(content, batch.encoding)
    for line_no, row in iter_rows(content, batch.encoding, batch.fmt, columns, checked=False):
        received += 1
        last_line = line_no
        if isinstance(row, Rejection):
            spill.add(row)
            continue
        rows.append((line_no, *row))
        size += sum(len(v) for v in row if v)
        if size >= _COPY_BLOCK_BYTES:
            flush()
            size = 0
    flush()
    return received, last_line


_SUSPECT, _UNKNOWN, _UNCHANGED, _BAD_COLUMNS, _RECEIVED = 0, 1, 2, 3, 4


def _judge_sql(
    columns,
    table: str,
    judged: str,
    *,
    raw_table: str | None = None,
    batch_id: int | None = None,
) -> str:
    """The one statement judging the raw rows (see ``stage``); its verdicts go to the temporary
    table ``judged`` (kind, line number or count, values), read back in slices.

    The raw rows come from ``raw_table`` (a file this process parsed) or, with ``batch_id``,
    straight from the stored file split by the server (``_split_sql``), materialized once in
    the statement's memory and never written to a table.

    A row is ``same`` when the fact of its record number already holds exactly what the row
    would write (``sqlchecks.same_as_fact``) for the person its citizen ID names: it passed the
    checks when it was written, so it is only counted as unchanged, not staged, unless it has
    something left to do (a name that disagrees with the library's) or its record number
    occurs more than once in the file (``repeated``: the duplicate check needs every such
    row). It returns rows of these kinds: ``_SUSPECT`` (line and raw values of a row the SQL
    checks refused, for Python), ``_UNKNOWN`` (line and citizen ID of a good row whose person
    the library does not hold), one ``_UNCHANGED`` (the number of unstaged same rows) and,
    from a stored file, ``_BAD_COLUMNS`` (line and text of a line with the wrong number of
    fields) and one ``_RECEIVED`` (the number of data lines and the last line's number).
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
    nulls_but_one = ", ".join("NULL" for _ in raw[2:])
    if batch_id is not None:
        # Lines with the wrong number of fields are kept out by ``bad_line IS NULL`` in the
        # judgement rather than by a filter here, which the planner would guess to keep 0.5%
        # of the lines (a CTE has no statistics) and plan the joins for a handful of rows.
        source = f"""raw AS MATERIALIZED ({_split_sql(batch_id, len(columns))}
        ), """
        file_rows = f"""
        UNION ALL
        SELECT {_BAD_COLUMNS}, line_no, bad_line, bad_size::text, {nulls_but_one}
        FROM raw WHERE bad_line IS NOT NULL
        UNION ALL
        SELECT {_RECEIVED}, count(*)::integer, max(line_no)::text, {nulls} FROM raw"""  # noqa: S608
    else:
        source = f"raw AS NOT MATERIALIZED (SELECT *, NULL::text AS bad_line FROM {raw_table}), "  # noqa: S608
        file_rows = ""
    return f"""
        WITH {source}repeats AS (
            SELECT {record_no} AS record_no FROM raw
            GROUP BY {record_no} HAVING count(*) FILTER (WHERE bad_line IS NULL) > 1
        ), known AS (
            SELECT r.*, p.id AS person_id, NULLIF(p.name, r.{by_field["name"]}) AS library_name,
                {counterpart_id} AS counterpart_id,
                {sqlchecks.same_as_fact(columns, counterpart_id=counterpart_id)} AS same,
                rp.record_no IS NOT NULL AS repeated
            FROM raw r
            LEFT JOIN population_person p ON p.citizen_id = r.{by_field["citizen_id"]}
            {counterpart_join}
            LEFT JOIN population_fact f
                ON f.kind = %(kind)s AND f.record_no = r.{record_no}
            LEFT JOIN repeats rp ON rp.record_no = r.{record_no}
        ), checked AS (
            SELECT k.*, bad_line IS NULL AND (same OR {row_ok}) AS ok,
                same AND library_name IS NULL AND NOT repeated AS skipped
            FROM known k
        ), good AS (
            INSERT INTO {table} ({", ".join(STAGE_COLUMNS)}, person_id, library_name,
                                 counterpart_id, same, repeated)
            SELECT {sqlchecks.typed_select(columns)}, person_id, library_name, counterpart_id,
                same, repeated
            FROM checked WHERE ok AND NOT skipped)
        INSERT INTO {judged}
        SELECT {_SUSPECT}, line_no, {", ".join(raw)} FROM checked
        WHERE NOT ok AND bad_line IS NULL
        UNION ALL
        SELECT {_UNKNOWN}, line_no, {by_field["citizen_id"]}, {nulls}
        FROM checked WHERE ok AND person_id IS NULL
        UNION ALL
        SELECT {_UNCHANGED}, count(*)::integer, {", ".join("NULL" for _ in raw)}
        FROM checked WHERE ok AND skipped{file_rows}"""  # noqa: S608


def _stage_unchanged(cursor, columns, raw_table: str, table: str, judged: str) -> None:
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
            WHERE NOT EXISTS (SELECT 1 FROM {judged} j
                              WHERE j.kind = {_SUSPECT} AND j.n = r.line_no)
              AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.line_no = r.line_no)"""  # noqa: S608
    )


def _judge_in_python(cursor, table, suspects, columns) -> list[Rejection]:
    """Rows the SQL pass refused: the Python checks give the reason, or convert the row."""
    convert = row_converter(columns)
    rejections, good = [], []
    for line_no, *values in suspects:
        values = ["" if v is None else v for v in values]
        try:
            good.append((line_no, *convert(values)))
        except RowError as exc:
            rejections.append(Rejection(line_no, exc.code, exc.reason, raw_csv(values)))
    if good:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            for row in good:
                copy.write_row(row)
    return rejections


def _validate_sql(cursor, table: str, columns, *, converted: int, judged: str, raw, spill) -> None:
    """Set-based checks over the staged rows: marks them rejected and spills their reasons.

    The rows whose person the judgement did not find are its ``_UNKNOWN`` verdicts in
    ``judged``. The rejected rows are collected in a temporary table and read back in slices
    with their lines (``raw``, see ``_raw_lines``), so none is held beyond a slice.
    """
    found = judged.replace("sync_judged_", "sync_found_")
    cursor.execute(
        f"""CREATE TEMP TABLE {found} (line_no integer PRIMARY KEY, code text,
                first_line integer, citizen_id text) ON COMMIT DROP"""
    )
    # A record number twice in one batch: the first occurrence applies, later ones are refused
    # (an upsert cannot touch one row twice in a statement, and the order would be arbitrary).
    # The judgement marked the rows whose raw record number repeats; rows typed in Python may
    # have had theirs trimmed, so with them every staged row is compared.
    only = "" if converted else "WHERE repeated"
    cursor.execute(
        f"""INSERT INTO {found} (line_no, code, first_line)
            SELECT s.line_no, 'duplicate_record', d.first_line FROM {table} s
            JOIN (SELECT record_no, min(line_no) AS first_line FROM {table} {only}
                  GROUP BY record_no HAVING count(*) > 1) d USING (record_no)
            WHERE s.line_no <> d.first_line
            ON CONFLICT (line_no) DO NOTHING"""  # noqa: S608
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
    # A row of an unknown person that also repeats a record number keeps the first reason.
    cursor.execute(
        f"""INSERT INTO {found} (line_no, code, citizen_id)
            SELECT n, 'unknown_person', v0 FROM {judged} WHERE kind = {_UNKNOWN}
            ON CONFLICT (line_no) DO NOTHING"""  # noqa: S608
    )
    if converted:
        cursor.execute(
            f"""INSERT INTO {found} (line_no, code, citizen_id)
                SELECT line_no, 'unknown_person', citizen_id FROM {table} s
                WHERE person_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM {judged} j WHERE j.kind = {_UNKNOWN} AND j.n = s.line_no)
                ON CONFLICT (line_no) DO NOTHING"""  # noqa: S608
        )
    cursor.execute(
        f"""UPDATE {table} s SET rejected = true FROM {found} f
            WHERE s.line_no = f.line_no"""  # noqa: S608
    )
    if not cursor.rowcount:
        return
    join, params, select, line_of = raw
    for line_no, code, first_line, citizen_id, *line in _stream(
        f"SELECT f.line_no, f.code, f.first_line, f.citizen_id, {select} FROM {found} f {join}",  # noqa: S608
        params,
    ):
        if code == "duplicate_record":
            reason = f"记录号与第{first_line}行重复 / record number repeats line {first_line}"
        else:
            masked = mask_citizen_id(citizen_id)
            reason = f"人口库中没有身份号码{masked} / no person with citizen ID {masked}"
        spill.add(Rejection(line_no, code, reason, line_of(line)))


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
            # The chunk's lines through the staging's block-range index: without statistics the
            # planner prices it like a scan of the whole staging table, which every chunk of a
            # 1M-line batch would then read (20 times the table for 20 chunks).
            cursor.execute("SET LOCAL enable_seqscan = off")
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
