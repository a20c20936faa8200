"""The department sync's models move from the ``population`` app to ``sync`` (sync.0001 and
population.0035) in Django's state only: a database migrated before the move keeps every row,
its triggers (renamed as pgtrigger now names them, still firing) and every permission held by a
group, a user or a staff role, now under the app label ``sync``; and back again."""

from __future__ import annotations

import datetime as dt

import pgtrigger
import pytest
from django.apps import apps as live_apps
from django.contrib.auth.models import Group, Permission, User
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from population import roles

BEFORE = [("population", "0034_sharing_models_to_own_app"), ("sync", None)]
MOVED = ["batch", "batchevent", "batchhistory", "fact", "factevent", "followup",
         "followupevent", "rejectedrow"]  # fmt: skip
TABLES = ["population_batch", "population_fact", "population_rejectedrow", "population_factevent"]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _rows(table: str):
    return _sql(f'SELECT * FROM "{table}" ORDER BY 1')


def _triggers(table: str) -> dict[str, str]:
    """The pgtrigger triggers of a table (no partition clones): name -> hash comment."""
    return dict(
        _sql(
            "SELECT tgname, obj_description(oid, 'pg_trigger') FROM pg_trigger"
            " WHERE tgrelid = %s::regclass AND tgname LIKE 'pgtrigger_%%' AND NOT tgisinternal",
            [table],
        )
    )


def _expected_triggers(app_label: str) -> dict[str, dict[str, str]]:
    """What pgtrigger declares for the app's models: table -> {name: hash}."""
    expected: dict[str, dict[str, str]] = {}
    for model, trigger in pgtrigger.registered():
        if model._meta.app_label == app_label:
            compiled = trigger.compile(model)
            expected.setdefault(model._meta.db_table, {})[compiled.sql.pgid] = compiled.sql.hash
    return expected


def _role_rights() -> dict[str, set[int]]:
    return {
        role: set(Group.objects.get(name=role).permissions.values_list("id", flat=True))
        for role in roles.ALL_ROLES
    }


@pytest.mark.db_role("owner")  # migrating backward and forward is DDL
@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_rows_triggers_and_permissions(make_person):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    person = make_person(name="迁移前")
    old = _migrate(BEFORE)
    try:
        # Before the move: the models are population's, and so are their permissions.
        batch = old.get_model("population", "Batch").objects.create(
            department="hrss", feed="employment", schema_version=1, fmt="csv",
            encoding="utf-8", source="command", filename="before.csv", content=b"x",
            content_sha256="0" * 64, size_bytes=1,
        )  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        fact = old.get_model("population", "Fact").objects.create(
            kind="employment", record_no="R-1", department="hrss", person_id=person.pk,
            reported_name="迁移前", batch_id=batch.pk, created_at=now, updated_at=now,
        )  # fmt: skip
        old.get_model("population", "RejectedRow").objects.create(
            batch_id=batch.pk, line_no=2, reason_code="bad_date", reason="日期无效", raw="x"
        )
        view_fact = Permission.objects.get(
            content_type__app_label="population", codename="view_fact"
        )
        requeue = Permission.objects.get(
            content_type__app_label="population", codename="requeue_batch"
        )
        group = Group.objects.create(name="部门数据核对组")
        group.permissions.add(view_fact)
        user = User.objects.create_user("checker", password="x" * 12, is_staff=True)
        user.user_permissions.add(requeue)
        rights = _role_rights()
        assert requeue.pk in rights[roles.SUPERVISOR]
        rows = {table: _rows(table) for table in TABLES}
        triggers_before = {table: _triggers(table) for table in TABLES}
        assert len(rows["population_factevent"]) == 1  # the insert's history row
        content_types = dict(
            _sql(
                "SELECT model, id FROM django_content_type WHERE app_label = 'population'"
                " AND model = ANY(%s)",
                [MOVED],
            )
        )
        assert set(content_types) == set(MOVED)

        _migrate(latest)

        # Every row kept, in the same tables.
        assert {table: _rows(table) for table in TABLES} == rows
        # The same content type rows, relabelled: every permission keeps its id and holders.
        assert (
            dict(_sql("SELECT model, id FROM django_content_type WHERE app_label = 'sync'"))
            == content_types
        )
        assert not _sql(
            "SELECT 1 FROM django_content_type WHERE app_label = 'population' AND model = ANY(%s)",
            [MOVED],
        )
        assert list(group.permissions.values_list("content_type__app_label", "codename")) == [
            ("sync", "view_fact")
        ]
        assert User.objects.get(pk=user.pk).has_perm("sync.requeue_batch")
        assert _role_rights() == rights
        assert {"view_batch", "requeue_batch", "view_fact", "view_followup"} <= set(
            Group.objects.get(name=roles.SUPERVISOR)
            .permissions.filter(content_type__app_label="sync")
            .values_list("codename", flat=True)
        )
        # The triggers are the ones pgtrigger declares now (name and hash): nothing to install,
        # nothing to prune; partitions of the history table carry the renamed clone.
        expected = _expected_triggers("sync")
        assert set(expected) >= {"population_batch", "population_fact", "population_factevent"}
        for table, triggers in expected.items():
            assert _triggers(table) == triggers, table
        (append_only,) = expected["population_factevent"]
        assert _sql(
            "SELECT DISTINCT t.tgname FROM pg_inherits i"
            " JOIN pg_trigger t ON t.tgrelid = i.inhrelid"
            " WHERE i.inhparent = 'population_factevent'::regclass"
            " AND t.tgname LIKE 'pgtrigger_%%'"
        ) == [(append_only,)]
        # ... and they fire: history of an update, append-only tables, checked references.
        live_fact = live_apps.get_model("sync", "Fact").objects.get(pk=fact.pk)
        live_fact.org = "迁移后单位"
        live_fact.save()
        assert _sql(
            "SELECT count(*) FROM population_factevent WHERE pgh_obj_id = %s", [fact.pk]
        ) == [(2,)]
        for sql in (
            "UPDATE population_rejectedrow SET reason = 'x'",
            "DELETE FROM population_factevent",
        ):
            with (
                pytest.raises(DatabaseError, match="Cannot update or delete"),
                transaction.atomic(),
            ):
                _sql(sql)
        with pytest.raises(DatabaseError, match="refers to no row"), transaction.atomic():
            _sql("UPDATE population_fact SET person_id = 0 WHERE id = %s", [fact.pk])

        # And back: population's models, content types and trigger names again.
        _migrate(BEFORE)
        assert _sql("SELECT org FROM population_fact WHERE id = %s", [fact.pk]) == [("迁移后单位",)]
        assert len(_rows("population_factevent")) == 2
        assert len(_rows("population_rejectedrow")) == 1
        assert list(group.permissions.values_list("content_type__app_label", "codename")) == [
            ("population", "view_fact")
        ]
        assert _role_rights() == rights
        assert {table: _triggers(table) for table in TABLES} == triggers_before
    finally:
        _migrate(latest)
