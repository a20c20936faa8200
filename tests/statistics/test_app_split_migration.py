"""The statistics models leave ``population`` for their own app in Django's state only: a
database migrated to just before the move, with a snapshot and a group holding the statistics
rights, keeps the table (same table, same rows), the permission rows and every group's rights
when migrated forward; and back again."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from population import roles

BEFORE = [("population", "0032_change_feed_monthly_partitions")]
SNAPSHOT_COLUMNS = "id, month, region_code, level, registered_total, registered_urban, pyramid"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def _content_types() -> dict[str, tuple[int, str]]:
    rows = _sql(
        "SELECT model, id, app_label FROM django_content_type"
        " WHERE model IN ('statsnapshot', 'statisticsdesk')"
    )
    return {model: (pk, label) for model, pk, label in rows}


def _rights() -> dict[str, set[tuple[int, str, str]]]:
    """Each group's permissions as (permission id, model, codename), whatever the app label."""
    rows = _sql(
        "SELECT g.name, p.id, ct.model, p.codename FROM auth_group g"
        " JOIN auth_group_permissions gp ON gp.group_id = g.id"
        " JOIN auth_permission p ON p.id = gp.permission_id"
        " JOIN django_content_type ct ON ct.id = p.content_type_id"
    )
    out: dict[str, set[tuple[int, str, str]]] = {}
    for name, pk, model, codename in rows:
        out.setdefault(name, set()).add((pk, model, codename))
    return out


def _labels_of(group: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=group).permissions.select_related("content_type")
    }


@pytest.mark.db_role("owner")  # migrating backward and forward writes django_migrations
@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_the_table_its_rows_the_permissions_and_every_role_s_rights():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        types = _content_types()
        assert {label for _, label in types.values()} == {"population"}
        table = _sql("SELECT 'population_statsnapshot'::regclass::oid")
        _sql(
            "INSERT INTO population_statsnapshot (month, region_code, level, registered_total,"
            " registered_urban, registered_unclassified, registered_away, resident_total,"
            " resident_urban, resident_unclassified, separated, resident_male, resident_female,"
            " pyramid, source, taken_at) VALUES ('2025-06-30', '441800000000', 2, 100, 60, 0,"
            " 3, 110, 70, 0, 5, 55, 55, '{\"resident\": {}}', 'current', now())"
        )
        snapshot = _sql(f"SELECT {SNAPSHOT_COLUMNS} FROM population_statsnapshot")
        desk = Group.objects.create(name="统计科")
        held = Permission.objects.filter(
            content_type__app_label="population",
            codename__in=["view_statistics", "view_statsnapshot"],
        )
        assert held.count() == 2
        desk.permissions.add(*held)
        reader = User.objects.create_user("统计员甲", is_staff=True)
        reader.groups.add(desk)
        rights = _rights()
        assert {c for _, _, c in rights[roles.STATISTICIAN]} >= {"view_statistics"}
        assert _labels_of(roles.SUPERVISOR) >= {"population.view_statistics"}

        _migrate(latest)

        # The same table (no copy) with the same row.
        assert _sql("SELECT 'population_statsnapshot'::regclass::oid") == table
        assert _sql(f"SELECT {SNAPSHOT_COLUMNS} FROM population_statsnapshot") == snapshot
        from population.statistics.models import StatSnapshot

        assert StatSnapshot.objects.get().registered_total == 100
        # The content-type rows were relabelled, not replaced: permission ids are unchanged.
        assert _content_types() == {model: (pk, "statistics") for model, (pk, _) in types.items()}
        assert _rights() == rights  # every role, and the new group, keeps the same rights
        assert _labels_of("统计科") == {
            "statistics.view_statistics",
            "statistics.view_statsnapshot",
        }
        for role in (roles.STATISTICIAN, roles.SUPERVISOR):
            assert {"statistics.view_statistics", "statistics.view_statsnapshot"} <= _labels_of(
                role
            )
        reader = User.objects.get(pk=reader.pk)
        assert reader.has_perm("statistics.view_statistics")
        assert not reader.has_perm("population.view_statistics")
        assert not Permission.objects.filter(content_type__app_label="population").filter(
            codename__in=["view_statistics", "view_statsnapshot"]
        )

        _migrate(BEFORE)  # and back: the rows and rights are still there, under population
        assert _content_types() == types
        assert _rights() == rights
        assert _sql(f"SELECT {SNAPSHOT_COLUMNS} FROM population_statsnapshot") == snapshot
    finally:
        _migrate(latest)


@pytest.mark.django_db
def test_the_roles_hold_the_statistics_rights_under_the_new_app_and_none_under_the_old():
    for role in (roles.STATISTICIAN, roles.SUPERVISOR):
        labels = _labels_of(role)
        assert {"statistics.view_statistics", "statistics.view_statsnapshot"} <= labels
        assert not {"population.view_statistics", "population.view_statsnapshot"} & labels
    for role in (roles.REGISTRATION_OFFICER, roles.AUDITOR):
        assert not {p for p in _labels_of(role) if p.startswith("statistics.")}
