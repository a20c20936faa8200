"""The sharing API's models move from the population app to the ``sharing`` app in Django's state
only (population 0034, sharing 0001): a database at the state before the move keeps every row,
the ``no_update`` trigger under its installed name, and every permission a group or a user holds
on those models, now under the ``sharing`` label; and back again."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework_api_key.crypto import KeyGenerator

from population.sharing.models import ApiClient, ApiKey, IdempotencyRecord

BEFORE = [("population", "0033_statistics_models_to_own_app"), ("sharing", None)]
MODELS = ("apiclient", "apikey", "idempotencyrecord")
TRIGGER = "pgtrigger_no_update_b0af1"


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


def _migrate(targets) -> None:
    _executor().migrate(targets)
    ContentType.objects.clear_cache()


def _sql(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


# Going back before this move also takes back the later move of the department sync's models
# (sync 0001 follows it); their relabelling is tests/sync/test_app_split_migration.py's.
SYNC_MODELS = {model._meta.model_name for model in apps.get_app_config("sync").get_models()}


def _rights() -> dict[str, set[tuple[int, str, str]]]:
    """Every group's permissions but the sync models': (permission id, app label, codename)."""
    return {
        group.name: {
            (p.pk, p.content_type.app_label, p.codename)
            for p in group.permissions.select_related("content_type")
            if p.content_type.model not in SYNC_MODELS
        }
        for group in Group.objects.all()
    }


def _relabelled(rights):
    """What the rights should be after the move: the same rows, the three models under
    ``sharing``, everything else untouched."""
    return {
        name: {
            (pk, "sharing" if (label, codename.split("_", 1)[1]) in _MOVED else label, codename)
            for pk, label, codename in perms
        }
        for name, perms in rights.items()
    }


_MOVED = {("population", model) for model in MODELS}


def _types():
    """The three models' content types (the key library has an ``apikey`` of its own)."""
    return ContentType.objects.filter(app_label__in=["population", "sharing"], model__in=MODELS)


def _trigger_installed() -> bool:
    return bool(
        _sql(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s"
            " AND tgrelid = 'population_idempotencyrecord'::regclass",
            [TRIGGER],
        )
    )


@pytest.mark.db_role("owner")  # migrating backward and forward runs as the tables' owner
@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_rows_trigger_and_every_granted_right():
    latest = _executor().loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        old = _executor().loader.project_state(BEFORE[:1]).apps
        assert ("sharing", "apiclient") not in old.all_models
        OldClient = old.get_model("population", "ApiClient")
        OldKey = old.get_model("population", "ApiKey")
        OldRecord = old.get_model("population", "IdempotencyRecord")

        # Before the move the content types and permissions are the population app's.
        assert set(_types().values_list("app_label", flat=True)) == {"population"}
        assert not ContentType.objects.filter(app_label="sharing").exists()

        client = OldClient.objects.create(
            code="hrss-pension",
            name="人社局养老保险系统",
            department="hrss",
            endpoints=["persons", "settlement_precheck"],
            person_fields=["name"],
            purposes=["social_insurance"],
            change_kinds=["birth", "permit_issued"],
            facts=["alive"],
            region_prefixes=["4418"],
        )
        secret, prefix, hashed = KeyGenerator().generate()
        OldKey.objects.create(
            id=f"{prefix}.{hashed}", prefix=prefix, hashed_key=hashed, name="首个密钥",
            client=client,
        )  # fmt: skip
        OldRecord.objects.create(
            client=client, key="k-1", fingerprint="f" * 64, status_code=201, body={"id": 7}
        )
        supervisors = Group.objects.create(name="共享管理员（迁移测试）")
        change = Permission.objects.get(
            content_type__app_label="population", codename="change_apiclient"
        )
        supervisors.permissions.add(change)
        user = get_user_model().objects.create_user("sharing_admin_migration", password="x")
        user.groups.add(supervisors)
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="population", codename="view_apikey")
        )
        rows = {
            table: _sql(f"SELECT * FROM {table} ORDER BY 1")
            for table in (
                "population_apiclient",
                "population_apikey",
                "population_idempotencyrecord",
            )
        }
        rights = _rights()
        permission_ids = set(Permission.objects.values_list("pk", flat=True))
        type_ids = dict(_types().values_list("model", "pk"))
        assert _trigger_installed()

        _migrate(latest)

        # Every row where it was, read through the sharing app's models.
        for table, before in rows.items():
            assert _sql(f"SELECT * FROM {table} ORDER BY 1") == before
        moved = ApiClient.objects.get(code="hrss-pension")
        assert moved.endpoints == ["persons", "settlement_precheck"]
        assert moved.change_kinds == ["birth", "permit_issued"]
        assert ApiKey.objects.get_from_key(secret).client == moved
        assert IdempotencyRecord.objects.get(client=moved, key="k-1").body == {"id": 7}

        # The trigger kept its name and still refuses an update.
        assert _trigger_installed()
        with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
            _sql("UPDATE population_idempotencyrecord SET status_code = 500")

        # Content types moved (same ids), no permission was added or lost, every group keeps
        # the same rights under the new label, and the user's own permission too.
        assert (
            dict(ContentType.objects.filter(app_label="sharing").values_list("model", "pk"))
            == type_ids
        )
        assert not ContentType.objects.filter(app_label="population", model__in=MODELS).exists()
        assert set(Permission.objects.values_list("pk", flat=True)) == permission_ids
        assert _rights() == _relabelled(rights)
        assert change.pk in supervisors.permissions.values_list("pk", flat=True)
        user = get_user_model().objects.get(pk=user.pk)
        assert user.has_perm("sharing.change_apiclient")
        assert user.has_perm("sharing.view_apikey")
        assert not user.has_perm("population.change_apiclient")

        _migrate(BEFORE)  # and back: the population app's again, rows and rights unchanged
        assert set(_types().values_list("app_label", flat=True)) == {"population"}
        assert _rights() == rights
        assert _sql("SELECT count(*) FROM population_apikey") == [(1,)]
        assert _trigger_installed()
    finally:
        _migrate(latest)


@pytest.mark.db_role("owner")
@pytest.mark.django_db(transaction=True)
def test_a_sharing_content_type_created_before_the_move_gives_way_keeping_its_holders():
    """If something created ``sharing`` content types before sharing 0001 ran (a permission
    setup of another migration), the move merges them into the old rows: one content type per
    model, and a group given the new permission still holds it."""
    latest = _executor().loader.graph.leaf_nodes()
    _migrate(BEFORE)
    try:
        early = ContentType.objects.create(app_label="sharing", model="apiclient")
        early_view = Permission.objects.create(
            content_type=early, codename="view_apiclient", name="可查看接口客户端"
        )
        extra = Permission.objects.create(
            content_type=early, codename="audit_apiclient", name="审计接口客户端"
        )
        group = Group.objects.create(name="提前授权组（迁移测试）")
        group.permissions.add(early_view, extra)
        old_id = ContentType.objects.get(app_label="population", model="apiclient").pk

        _migrate(latest)

        moved = ContentType.objects.get(app_label="sharing", model="apiclient")
        assert moved.pk == old_id
        assert not ContentType.objects.filter(pk=early.pk).exists()
        held = set(group.permissions.values_list("content_type_id", "codename"))
        assert held == {(old_id, "view_apiclient"), (old_id, "audit_apiclient")}
        assert Permission.objects.filter(content_type=moved, codename="view_apiclient").count() == 1
    finally:
        _migrate(latest)
