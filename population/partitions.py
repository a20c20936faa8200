"""Monthly range partitions for the tables that grow without end (native PostgreSQL, no extension).

A partitioned table ``T`` is ``PARTITION BY RANGE (column)`` with one partition per calendar
month in UTC, ``T_pYYYYMM`` holding ``[first of the month, first of the next)``, and a default
partition ``T_pdefault`` that catches a row no month partition covers (a month not created in
time), so an insert never fails for want of a partition.

- ``table_partition_by_month`` converts a plain table in place (a migration calls it): a new
  partitioned table beside the old one, every row copied and counted, the old table dropped,
  names, indexes, constraints, triggers, identity sequence and grants carried over. PostgreSQL
  requires the primary key of a partitioned table to include the partition key: the key becomes
  ``(pk…, column)`` in the database while Django's state keeps its own primary key.
  ``table_unpartition`` is the way back.
- ``partitions_ensure`` creates the current month and ``PARTITIONS_AHEAD_MONTHS`` ahead for every
  range-partitioned table of the schema (Celery beat ``population.partitions_ensure`` daily,
  ``manage.py partitions_ensure``). Idempotent and safe to run twice at once (a transaction-scoped
  advisory lock). Rows the default partition caught (a month not created in time, or a row
  written with an old time) are moved into their month's new partition in the same transaction.
- Each new partition gets what a partition does not inherit: the ``BEFORE TRUNCATE`` guard
  (statement triggers are not cloned, and a partition can be truncated directly) and its parent's
  grants (a partition is reachable by its own name, so the runtime role must have no more rights
  on it than on the parent). Row triggers (``pgtrigger.Protect``) are cloned by PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from population.locks import advisory_xact_lock

# pg_advisory_xact_lock key taken by everything that creates, moves or drops partitions.
PARTITION_LOCK = 0x706F70_70617274  # "pop" "part"
DEFAULT_SUFFIX = "_pdefault"
_MONTH_SUFFIX = re.compile(r"_p(\d{4})(\d{2})$")
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
TRUNCATE_TRIGGER = "popbase_no_truncate"


def _q(name: str) -> str:
    """A plain lower-case table or column name as an SQL identifier; nothing else accepted."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_add(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def _bound(month: dt.date, kind: str) -> str:
    # Literals built from a date only: UTC month boundaries, whatever the session's time zone.
    return f"'{month.isoformat()}'" if kind == "date" else f"'{month.isoformat()} 00:00:00+00'"


@dataclass(frozen=True)
class Partition:
    name: str
    month: dt.date | None  # None: the default partition (or one not named by month)
    rows_estimate: int


def is_partitioned(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        " WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace",
        [table],
    )
    return cursor.fetchone() is not None


def partitioned_tables(cursor) -> dict[str, str]:
    """Range-partitioned tables of the schema and their partition column (one column each)."""
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_partitioned_table p"
        " JOIN pg_class c ON c.oid = p.partrelid"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]"
        " WHERE p.partstrat = 'r' AND p.partnatts = 1"
        " AND c.relnamespace = 'public'::regnamespace AND NOT c.relispartition"
        " ORDER BY c.relname"
    )
    return dict(cursor.fetchall())


def partitions(cursor, table: str) -> list[Partition]:
    """The attached partitions of ``table``, months in order, the default one last."""
    cursor.execute(
        "SELECT c.relname, c.reltuples::bigint FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
        [table],
    )
    found = []
    for name, estimate in cursor.fetchall():
        match = _MONTH_SUFFIX.search(name)
        month = dt.date(int(match[1]), int(match[2]), 1) if match else None
        found.append(Partition(name, month, max(estimate, 0)))
    return sorted(found, key=lambda p: (p.month is None, p.month or dt.date.min))


def _column_kind(cursor, table: str, column: str) -> str:
    cursor.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attname = %s",
        [table, column],
    )
    row = cursor.fetchone()
    if row is None:
        raise ValueError(f"{table} has no column {column}")
    if row[0] == "date":
        return "date"
    if row[0] == "timestamp with time zone":
        return "timestamptz"
    raise ValueError(f"{table}.{column} is {row[0]}: only date or timestamptz is partitioned")


# --- what a partition does not inherit ------------------------------------------------------


def _has_trigger(cursor, table: str, name: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s", [table, name]
    )
    return cursor.fetchone() is not None


def _acl(cursor, table: str) -> list[tuple[str, str]]:
    """(grantee, privilege) on ``table`` for every role but its owner; 'PUBLIC' for 0."""
    cursor.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,"
        " a.privilege_type FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE c.oid = %s::regclass AND a.grantee <> c.relowner ORDER BY 1, 2",
        [table],
    )
    return cursor.fetchall()


def _acl_apply(cursor, table: str, acl: list[tuple[str, str]]) -> None:
    """Make the grants on ``table`` exactly ``acl`` (the owner's own rights untouched)."""
    for grantee in {g for g, _ in _acl(cursor, table)}:
        cursor.execute(f"REVOKE ALL ON {_q(table)} FROM {grantee}")
    for grantee, privilege in acl:
        cursor.execute(f"GRANT {privilege} ON {_q(table)} TO {grantee}")


def partition_protect(cursor, parent: str, partition: str) -> None:
    """Give ``partition`` its parent's TRUNCATE guard and grants."""
    if _has_trigger(cursor, parent, TRUNCATE_TRIGGER):
        cursor.execute(
            f"CREATE OR REPLACE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {_q(partition)}"
            " FOR EACH STATEMENT EXECUTE FUNCTION popbase_refuse_truncate()"
        )
    _acl_apply(cursor, partition, _acl(cursor, parent))


# --- creating months ahead ------------------------------------------------------------------


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{name}"])
    return cursor.fetchone()[0]


def _default_create(cursor, table: str) -> str:
    name = f"{table}{DEFAULT_SUFFIX}"
    if not _exists(cursor, name):
        cursor.execute(f"CREATE TABLE {_q(name)} PARTITION OF {_q(table)} DEFAULT")
        partition_protect(cursor, table, name)
    return name


def _month_create(cursor, table: str, column: str, kind: str, month: dt.date) -> bool:
    """Create the partition of ``month`` unless it exists; True when created. Rows of that month
    that the default partition caught meanwhile move into it, in the caller's transaction."""
    name = partition_name(table, month)
    if _exists(cursor, name):
        return False
    low, high = _bound(month, kind), _bound(month_add(month, 1), kind)
    default = f"{table}{DEFAULT_SUFFIX}"
    caught = False
    if _exists(cursor, default):
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {_q(default)}"  # noqa: S608 (checked names)
            f" WHERE {_q(column)} >= {low} AND {_q(column)} < {high})"
        )
        caught = cursor.fetchone()[0]
    if not caught:
        cursor.execute(
            f"CREATE TABLE {_q(name)} PARTITION OF {_q(table)} FOR VALUES FROM ({low}) TO ({high})"
        )
        partition_protect(cursor, table, name)
        return True
    # PostgreSQL refuses a new partition while the default one holds rows of its range: take the
    # default out, create the month, move its rows (past the append-only triggers of the default
    # partition for this transaction only: pgtrigger's ignore list), put the default back.
    cursor.execute(f"ALTER TABLE {_q(table)} DETACH PARTITION {_q(default)}")
    cursor.execute(
        f"CREATE TABLE {_q(name)} PARTITION OF {_q(table)} FOR VALUES FROM ({low}) TO ({high})"
    )
    partition_protect(cursor, table, name)
    cursor.execute(
        f"INSERT INTO {_q(name)} SELECT * FROM {_q(default)}"  # noqa: S608
        f" WHERE {_q(column)} >= {low} AND {_q(column)} < {high}"
    )
    moved = cursor.rowcount
    cursor.execute(
        "SELECT coalesce(array_agg(tgname), '{}') FROM pg_trigger"
        " WHERE tgrelid = %s::regclass AND tgname LIKE 'pgtrigger\\_%%'",
        [default],
    )
    cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [_pg_array(cursor)])
    cursor.execute(
        f"DELETE FROM {_q(default)} WHERE {_q(column)} >= {low} AND {_q(column)} < {high}"  # noqa: S608
    )
    if cursor.rowcount != moved:
        raise RuntimeError(f"{default}: moved {moved} rows but removed {cursor.rowcount}")
    cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")
    cursor.execute(f"ALTER TABLE {_q(table)} ATTACH PARTITION {_q(default)} DEFAULT")
    return True


def _pg_array(cursor) -> str:
    names = cursor.fetchone()[0]
    return "{" + ",".join(names) + "}"


def _months_in(cursor, table: str, column: str, kind: str) -> set[dt.date]:
    month = (
        f"date_trunc('month', {_q(column)})::date"
        if kind == "date"
        else f"date_trunc('month', {_q(column)} AT TIME ZONE 'UTC')::date"
    )
    cursor.execute(f"SELECT DISTINCT {month} FROM {_q(table)}")  # noqa: S608 (checked names)
    return {row[0] for row in cursor.fetchall()}


def partitions_ensure(
    *, ahead: int | None = None, today: dt.date | None = None, tables: list[str] | None = None
) -> dict[str, list[str]]:
    """Create the current month and ``ahead`` months after it (default
    ``PARTITIONS_AHEAD_MONTHS``), the default partition, and the month of any row the default
    partition holds (moving the rows), for every range-partitioned table; returns the partitions
    created per table. Idempotent; two runs at once take turns."""
    ahead = settings.PARTITIONS_AHEAD_MONTHS if ahead is None else ahead
    if ahead < 0:
        raise ValueError("ahead must be 0 or more")
    first = month_start(today or dt.datetime.now(dt.UTC).date())
    created: dict[str, list[str]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_lock(PARTITION_LOCK, cursor=cursor)
        found = partitioned_tables(cursor)
        for table, column in found.items():
            if tables is not None and table not in tables:
                continue
            kind = _column_kind(cursor, table, column)
            default = _default_create(cursor, table)
            # The months ahead, and any month whose rows the default partition holds (written
            # with an old time, or while the job did not run): the default stays empty.
            months = {month_add(first, n) for n in range(ahead + 1)}
            months |= _months_in(cursor, default, column, kind)
            for month in sorted(months):
                if _month_create(cursor, table, column, kind, month):
                    created.setdefault(table, []).append(partition_name(table, month))
    return created


# --- converting a plain table ---------------------------------------------------------------


@dataclass
class _Saved:
    indexes: list[str]
    constraints: list[tuple[str, str]]
    triggers: list[tuple[str, str | None]]
    acl: list[tuple[str, str]]
    identity: str | None
    sequence_state: tuple[int, bool] | None
    pk_name: str | None
    pk_columns: list[str]


def _save(cursor, table: str) -> _Saved:
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype <> 'n' ORDER BY conname",
        [table],
    )
    pk_name, constraints, constraint_indexes = None, [], set()
    for name, kind, definition in cursor.fetchall():
        if kind == "p":
            pk_name = name
        elif kind in ("u", "x"):
            raise ValueError(
                f"{table}: unique constraint {name} cannot move to a partitioned table"
            )
        else:
            constraints.append((name, definition))
        constraint_indexes.add(name)
    cursor.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        [table],
    )
    pk_columns = [r[0] for r in cursor.fetchall()]
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass"
        " ORDER BY c.relname",
        [table],
    )
    indexes = []
    for name, definition, unique in cursor.fetchall():
        if name in constraint_indexes:
            continue
        if unique:
            raise ValueError(f"{table}: unique index {name} cannot be partitioned")
        indexes.append(definition)
    cursor.execute("SELECT conname FROM pg_constraint WHERE confrelid = %s::regclass", [table])
    if referencing := [r[0] for r in cursor.fetchall()]:
        raise ValueError(f"{table} is referenced by foreign keys {referencing}")
    # Triggers declared on this table (not those cloned from a parent, not internal ones).
    cursor.execute(
        "SELECT pg_get_triggerdef(t.oid), obj_description(t.oid, 'pg_trigger') FROM pg_trigger t"
        " WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal AND t.tgparentid = 0"
        " ORDER BY t.tgname",
        [table],
    )
    triggers = cursor.fetchall()
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> ''",
        [table],
    )
    row = cursor.fetchone()
    identity, sequence_state = (row[0] if row else None), None
    if identity:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, identity])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
        sequence_state = cursor.fetchone()
    return _Saved(
        indexes=indexes,
        constraints=constraints,
        triggers=triggers,
        acl=_acl(cursor, table),
        identity=identity,
        sequence_state=sequence_state,
        pk_name=pk_name,
        pk_columns=pk_columns,
    )


def _restore(cursor, table: str, saved: _Saved, pk_columns: list[str]) -> None:
    if saved.identity and saved.sequence_state:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, saved.identity])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, %s, %s)", [sequence, *saved.sequence_state])
        wanted = f"{table}_{saved.identity}_seq"
        if sequence != f"public.{wanted}" and not _exists(cursor, wanted):
            cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {_q(wanted)}")
    if pk_columns:
        name = saved.pk_name or f"{table}_pkey"
        cols = ", ".join(_q(c) for c in pk_columns)
        cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} PRIMARY KEY ({cols})")
    for definition in saved.indexes:
        # A partitioned table's own index reads "ON ONLY"; recreated here it covers everything.
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
    for name, definition in saved.constraints:
        cursor.execute(f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
    for definition, comment in saved.triggers:
        cursor.execute(definition)
        if comment is not None:
            name = re.match(r"CREATE (?:CONSTRAINT )?TRIGGER (\S+)", definition)[1]
            cursor.execute(f"COMMENT ON TRIGGER {name} ON {_q(table)} IS %s", [comment])
    _acl_apply(cursor, table, saved.acl)


def _rebuild(cursor, table: str, *, column: str, ahead: int) -> int:
    """Rebuild ``table`` partitioned by month on ``column``, every row copied and counted;
    returns the row count. Runs in the caller's transaction."""
    advisory_xact_lock(PARTITION_LOCK, cursor=cursor)
    cursor.execute(f"LOCK TABLE {_q(table)} IN ACCESS EXCLUSIVE MODE")
    saved = _save(cursor, table)
    old = f"{table}_rebuild_old"
    cursor.execute(f"ALTER TABLE {_q(table)} RENAME TO {_q(old)}")
    kind = _column_kind(cursor, old, column)
    cursor.execute(f"CREATE TABLE {_q(table)} {_like(old)} PARTITION BY RANGE ({_q(column)})")
    cursor.execute(f"SELECT min({_q(column)}), max({_q(column)}) FROM {_q(old)}")  # noqa: S608
    low, high = cursor.fetchone()

    def to_date(value):
        return value.astimezone(dt.UTC).date() if kind == "timestamptz" else value

    now = month_start(dt.datetime.now(dt.UTC).date())
    month = min(month_start(to_date(low)), now) if low is not None else now
    last = max(month_add(now, ahead), month_start(to_date(high)) if high is not None else now)
    while month <= last:
        _month_create(cursor, table, column, kind, month)
        month = month_add(month, 1)
    _default_create(cursor, table)
    copied = _copy(cursor, old, table)
    pk = list(saved.pk_columns)
    if pk and column not in pk:
        pk.append(column)
    _restore(cursor, table, saved, pk)
    for part in partitions(cursor, table):
        partition_protect(cursor, table, part.name)
    cursor.execute(f"ANALYZE {_q(table)}")
    return copied


def _like(old: str) -> str:
    return (
        f"(LIKE {_q(old)} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED"
        " INCLUDING STORAGE INCLUDING COMMENTS)"
    )


def _copy(cursor, old: str, table: str) -> int:
    """Every row of ``old`` into ``table``, counted, then ``old`` dropped. Before the triggers
    are back on ``table``: the copy fires none (no row is queued or refused twice)."""
    cursor.execute(f"INSERT INTO {_q(table)} OVERRIDING SYSTEM VALUE SELECT * FROM {_q(old)}")  # noqa: S608
    copied = cursor.rowcount
    cursor.execute(f"SELECT count(*) FROM {_q(old)}")  # noqa: S608
    if cursor.fetchone()[0] != copied:
        raise RuntimeError(f"{table}: copied {copied} rows, the old table holds another number")
    cursor.execute(f"DROP TABLE {_q(old)}")  # and its partitions, if it had any
    return copied


def table_partition_by_month(cursor, table: str, column: str, *, ahead: int = 3) -> int:
    """Convert the plain ``table`` into one range-partitioned by month on ``column``, keeping
    every row; the primary key gains ``column`` if it lacks it. Returns the rows copied."""
    if is_partitioned(cursor, table):
        return 0
    return _rebuild(cursor, table, column=column, ahead=ahead)


def table_unpartition(cursor, table: str, *, pk: list[str]) -> int:
    """Turn the partitioned ``table`` back into a plain one (every row kept) whose primary key
    is ``pk``. Returns the rows copied."""
    if not is_partitioned(cursor, table):
        return 0
    advisory_xact_lock(PARTITION_LOCK, cursor=cursor)
    cursor.execute(f"LOCK TABLE {_q(table)} IN ACCESS EXCLUSIVE MODE")
    saved = _save(cursor, table)
    old = f"{table}_rebuild_old"
    cursor.execute(f"ALTER TABLE {_q(table)} RENAME TO {_q(old)}")
    cursor.execute(f"CREATE TABLE {_q(table)} {_like(old)}")
    copied = _copy(cursor, old, table)
    _restore(cursor, table, saved, pk)
    return copied
