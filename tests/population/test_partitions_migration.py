"""Migration 0026 turns the existing access log and its per-person index into monthly
partitions keeping every row: sealed and unsealed rows, their ids and sequence, their triggers
and their TRUNCATE guard come through; and back again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from population import audit, partitions

BEFORE = [("population", "0025_inbox_schedule_names_in_chinese")]
UTC = dt.UTC
COLUMNS = "id, at, user_id, username, channel, purpose, person_ids, fields, client"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        return partitions.is_partitioned(cursor, table)


@pytest.mark.db_role("owner")  # migrating backward and forward is DDL
@pytest.mark.django_db(transaction=True)
def test_the_log_is_partitioned_keeping_every_row_sealed_or_not(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        assert not _partitioned("population_accesslog")
        now = dt.datetime.now(UTC)
        for i, at in enumerate([now - dt.timedelta(days=95), now - dt.timedelta(days=40), now]):
            _sql(
                "INSERT INTO population_accesslog (at, user_id, username, channel, purpose,"
                " person_ids, fields, client) VALUES (%s, NULL, %s, 'api.persons', 'p', %s,"
                " '{name}', '')",
                [at, f"u{i}", [i + 1, 9]],
            )
        assert audit.access_log_seal().rows == 3
        _sql(
            "INSERT INTO population_accesslog (at, username, channel, purpose, person_ids,"
            " fields, client) VALUES (%s, 'waiting', 'api.persons', 'p', '{4}', '{name}', '')",
            [now],
        )
        rows = _sql(f"SELECT {COLUMNS} FROM population_accesslog ORDER BY id")
        index = _sql("SELECT * FROM population_accesslogperson ORDER BY 1, 2, 3")

        _migrate(latest)

        assert _partitioned("population_accesslog") and _partitioned("population_accesslogperson")
        assert _sql(f"SELECT {COLUMNS} FROM population_accesslog ORDER BY id") == rows
        assert _sql("SELECT * FROM population_accesslogperson ORDER BY 1, 2, 3") == index
        assert len(index) == 6
        oldest = (now - dt.timedelta(days=95)).date().replace(day=1)
        assert _sql(f"SELECT count(*) FROM population_accesslog_p{oldest:%Y%m}") == [(1,)]
        # The ids go on from where they were; the waiting row is still queued, then sealed.
        new = audit.access_log_record(
            user=None, channel="api.persons", purpose="p", person_ids=[5], fields=["name"]
        )
        assert new.id > rows[-1][0]
        assert audit.access_log_seal().rows == 2
        verdict = audit.access_log_verify()
        assert (verdict.intact, verdict.rows_checked) == (True, 5)
        # Still append-only and TRUNCATE-guarded, on the table and on a partition by its name.
        for sql in (
            "UPDATE population_accesslog SET purpose = 'x'",
            "DELETE FROM population_accesslogperson",
            "TRUNCATE population_accesslog",
            f"TRUNCATE population_accesslog_p{oldest:%Y%m}",
        ):
            with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
                _sql(sql)

        _migrate(BEFORE)  # and back: a plain table with every row
        assert not _partitioned("population_accesslog")
        assert len(_sql("SELECT id FROM population_accesslog")) == 5
        assert _sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'population_accesslog'::regclass AND contype = 'p'"
        ) == [("PRIMARY KEY (id)",)]
        with pytest.raises(DatabaseError, match="append_only"), transaction.atomic():
            _sql("DELETE FROM population_accesslog")
    finally:
        _migrate(latest)
