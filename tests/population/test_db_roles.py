"""Least privilege (population/db_roles.py): what the runtime role may and may not do.

Each test creates the roles inside its own transaction (CREATE ROLE and GRANT are transactional
in PostgreSQL, so nothing is left in the cluster) and switches the test's connection to the
runtime role with ``SET LOCAL ROLE``: the ORM and raw SQL then run with exactly its rights. Creating
roles needs the superuser, so these tests connect as DATABASE_URL's superuser (tests/dburl.py);
the last tests check that every other test runs as the test runtime role.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from population import audit, db_roles
from population.models import AccessLog, AccessLogSeal, OfficerRegion, Person

pytestmark = [pytest.mark.django_db, pytest.mark.db_role("superuser")]


def _role_names() -> tuple[str, str]:
    """Names unique to this test database (roles are shared by the whole server)."""
    base = re.sub(r"[^a-z0-9_]", "_", connection.settings_dict["NAME"].lower())[:40]
    return f"{base}_owner_t", f"{base}_app_t"


@pytest.fixture
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


@pytest.fixture
def runtime(db):
    """The roles, created and granted by the command, as a superuser would run it."""
    owner, app = _role_names()
    out = io.StringIO()
    call_command("db_roles", "--owner", owner, "--runtime", app, stdout=out)
    assert f"runtime role {app} granted" in out.getvalue()
    return app


@contextmanager
def as_role(role: str):
    """Run the block as ``role``; a refused statement rolls back only its own savepoint."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {db_roles.quote_role(role)}")
        yield
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def refused(role: str, sql: str, params=None) -> str:
    """The error ``role`` gets for ``sql`` (the test fails when it is allowed)."""
    with pytest.raises(DatabaseError) as caught, as_role(role), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


def _log_rows(n: int) -> list[AccessLog]:
    return [
        audit.access_log_record(
            user=None, channel="api.persons", purpose="p", person_ids=[i], fields=["name"]
        )
        for i in range(n)
    ]


APPEND_ONLY = ["population_accesslog", "population_personevent", "registry_householdevent"]


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_the_runtime_role_may_not_truncate_update_or_delete_append_only_tables(
    runtime, table, make_person, village, checkpoint_dir
):
    person = make_person(hukou_region=village)  # a history row in population_personevent
    _log_rows(1)
    assert "permission denied" in refused(runtime, f"TRUNCATE {table} CASCADE")
    assert "permission denied" in refused(runtime, f"DELETE FROM {table}")
    column = {"population_accesslog": "purpose"}.get(table, "pgh_label")
    assert "permission denied" in refused(runtime, f"UPDATE {table} SET {column} = {column}")
    assert Person.objects.filter(pk=person.pk).exists()


def test_the_runtime_role_may_not_change_the_schema(runtime):
    assert "must be owner" in refused(runtime, "ALTER TABLE population_person ADD COLUMN x integer")
    assert "permission denied" in refused(runtime, "CREATE TABLE popbase_x (id integer)")
    assert "permission denied" in refused(runtime, "TRUNCATE population_person CASCADE")
    assert "must be owner" in refused(
        runtime, "ALTER TABLE population_accesslog DISABLE TRIGGER USER"
    )
    # Only the feed batches' stage tables, in their own schema (population/sync/pipeline.py).
    with as_role(runtime), connection.cursor() as cursor:
        cursor.execute("CREATE UNLOGGED TABLE popbase_stage.popbase_x (id integer)")
        cursor.execute("CREATE INDEX ON popbase_stage.popbase_x USING brin (id)")
        cursor.execute("DROP TABLE popbase_stage.popbase_x")


def test_the_runtime_role_does_the_app_s_normal_writes(
    runtime, make_person, village, checkpoint_dir, django_user_model
):
    officer = django_user_model.objects.create_user("rt_officer", is_staff=True)
    with as_role(runtime):
        # persons through the service (history rows written by the triggers), an update, a
        # delete of an ordinary row, a read logged and sealed into the chain
        person = make_person(hukou_region=village, name="王五")
        Person.objects.filter(pk=person.pk).update(name="王六")
        grant = OfficerRegion.objects.create(user=officer, region=village)
        grant.delete()
        _log_rows(3)
        audit.access_log_seal(batch_size=10)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == runtime
    assert Person.objects.get(pk=person.pk).name == "王六"
    assert sorted(AccessLogSeal.objects.values_list("seq", flat=True)) == [1, 2, 3]
    assert not OfficerRegion.objects.filter(user=officer).exists()


def test_the_runtime_role_refreshes_the_facts_statistics_through_the_owner_s_function(runtime):
    """The feed pipeline's ANALYZE (population/sync/pipeline.py): the runtime role may not
    ANALYZE the owner's table itself (a warning, nothing done), but through the owner's function.
    A sentinel row count (set by this test's superuser) shows whether statistics were taken."""

    def reltuples():
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'population_fact'::regclass")
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = 12345 WHERE oid = 'population_fact'::regclass"
        )
    with as_role(runtime), connection.cursor() as cursor:
        cursor.execute("ANALYZE population_fact")
    assert reltuples() == 12345
    with as_role(runtime), connection.cursor() as cursor:
        cursor.execute("SELECT popbase_analyze_facts()")
    assert reltuples() == 0  # the test database holds no facts


def test_the_access_log_and_its_chain_take_no_update_or_delete(runtime, checkpoint_dir):
    entry = _log_rows(1)[0]
    audit.access_log_seal(batch_size=10)
    for sql in (
        "UPDATE population_accesslog SET username = 'x' WHERE id = %s",
        "DELETE FROM population_accesslog WHERE id = %s",
        f"UPDATE {AccessLogSeal._meta.db_table} SET row_hash = 'f' WHERE log_id = %s",
        f"DELETE FROM {AccessLogSeal._meta.db_table} WHERE log_id = %s",
    ):
        assert "permission denied" in refused(runtime, sql, [entry.id])


def test_every_append_only_table_is_covered():
    tables = db_roles.append_only_tables()
    assert set(tables) == set(audit.protected_tables())
    assert set(APPEND_ONLY) <= set(tables)
    assert tables["population_personevent"] is True  # UPDATE refused too
    assert tables["population_accesslog"] is True
    assert tables[AccessLogSeal._meta.db_table] is True


def test_the_command_is_idempotent_and_refuses_bad_input(runtime):
    owner, app = _role_names()
    call_command("db_roles", "--owner", owner, "--runtime", app, stdout=io.StringIO())
    assert "permission denied" in refused(app, "TRUNCATE population_accesslog")
    with pytest.raises(CommandError, match="owner and runtime role must differ"):
        call_command("db_roles", "--owner", app, "--runtime", app)
    with pytest.raises(CommandError, match="角色名不合规"):
        call_command("db_roles", "--owner", owner, "--runtime", 'x"; DROP TABLE y; --')


def test_new_tables_of_the_owner_get_the_runtime_grants(runtime):
    owner, app = _role_names()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {owner}")
        cursor.execute("CREATE TABLE popbase_later (id integer)")
        cursor.execute("RESET ROLE")
    with as_role(app), connection.cursor() as cursor:
        cursor.execute("INSERT INTO popbase_later VALUES (1)")
        cursor.execute("DELETE FROM popbase_later")
    assert "permission denied" in refused(app, "TRUNCATE popbase_later")


def test_an_owner_url_of_another_database_is_refused():
    env = {
        **{k: v for k, v in os.environ.items() if k != "POPBASE_ENV"},
        "DATABASE_URL": "postgres://popbase_app@db.invalid:5432/popbase",
        "DATABASE_OWNER_URL": "postgres://popbase_owner@db.invalid:5432/other",
    }
    started = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode != 0
    assert "DATABASE_OWNER_URL must name the same database" in started.stderr


def test_migrate_connects_as_the_owner_and_the_app_does_not():
    """With DATABASE_OWNER_URL naming a role the server does not know, migrate fails on that
    role's login, while a command of the app (check) runs as DATABASE_URL's role."""
    from tests.dburl import TEST_RUNTIME, subprocess_database_url

    url = subprocess_database_url()
    assert f"//{TEST_RUNTIME}@" in url
    owner_url = url.replace(f"//{TEST_RUNTIME}@", "//popbase_no_such_owner@", 1)
    env = {
        **{k: v for k, v in os.environ.items() if k != "POPBASE_ENV"},
        "DATABASE_URL": url,
        "DATABASE_OWNER_URL": owner_url,
    }

    def manage(*args):
        return subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=django_settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    migrate = manage("migrate", "--plan")
    assert migrate.returncode != 0
    assert "popbase_no_such_owner" in migrate.stderr
    check = manage("check", "--database", "default")
    assert check.returncode == 0, check.stderr


def test_after_a_migration_as_the_owner_the_runtime_role_is_granted_again(runtime, settings):
    """The post_migrate receiver: a table the runtime role got DELETE on by hand loses it."""
    _owner, app = _role_names()
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT DELETE ON population_accesslog TO {app}")
    settings.DATABASE_OWNER = {"USER": "someone", "PASSWORD": ""}
    settings.DATABASE_RUNTIME_USER = app
    db_roles.runtime_grants_apply(using="default")
    assert "permission denied" in refused(app, "DELETE FROM population_accesslog")


def test_without_an_owner_url_migrations_grant_nothing(settings):
    settings.DATABASE_OWNER = None
    assert db_roles.runtime_role() is None


def test_a_partition_by_its_own_name_is_as_closed_as_its_table(runtime, checkpoint_dir):
    from population import partitions

    # Created after the grants, as the daily job does: it takes its table's rights.
    partitions.partitions_ensure(today=dt.date(2038, 1, 1), ahead=0)
    with as_role(runtime):
        AccessLog.objects.create(
            at=dt.datetime(2038, 1, 2, tzinfo=dt.UTC), channel="api.persons", purpose="p",
            person_ids=[1], fields=["name"],
        )  # fmt: skip
    for name in ("population_accesslog_p203801", "population_accesslog_pdefault"):
        for sql in (f"DELETE FROM {name}", f"UPDATE {name} SET purpose = 'x'", f"TRUNCATE {name}"):
            assert "permission denied" in refused(runtime, sql)
    # Creating or dropping months is the owner's (partitions_ensure and audit_archive connect
    # as the owner when DATABASE_OWNER_URL is set).
    assert "permission denied" in refused(
        runtime,
        "CREATE TABLE population_accesslog_p203802 PARTITION OF population_accesslog"
        " FOR VALUES FROM ('2038-02-01') TO ('2038-03-01')",
    )
    assert (
        "must be owner"
        in refused(runtime, "ALTER TABLE population_accesslog DETACH PARTITION"
                   " population_accesslog_p203801")
    )  # fmt: skip
