"""Shared fixtures: regions of the demo city and person/household factories."""

from __future__ import annotations

import datetime as dt

import pytest

from population.identity import build_citizen_id
from tests import dburl


def _flush_past_the_truncate_guard() -> None:
    """Transactional tests end with ``flush`` (one TRUNCATE of every table), which the runtime
    role may not do and the append-only tables refuse (population.audit.truncate_guard_install).
    The test database's flush runs on a separate superuser connection (tests/dburl.py) with
    triggers off for that transaction only; a TRUNCATE in a test itself is still refused."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    if getattr(original, "past_guard", False):
        return

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else []

    def execute_sql_flush(self, sql_list):
        # The test's own session goes first: no lock or snapshot of it outlives the test to
        # block the TRUNCATE or to show the post_migrate receivers the rows it emptied.
        if not self.connection.in_atomic_block:
            self.connection.close()
        dburl.privileged_execute(sql_list)

    sql_flush.past_guard = True
    DatabaseOperations.sql_flush = sql_flush
    DatabaseOperations.execute_sql_flush = execute_sql_flush


_flush_past_the_truncate_guard()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, django_db_blocker):
    """Before the test database is made (test_<name>, test_<name>_gw0 … with xdist): the
    superuser of DATABASE_URL creates the test owner and runtime roles, drops a kept test
    database another role made, and hands over to the owner, which creates and migrates the
    test database (the migrate command connects as ``DATABASE_OWNER``; its post_migrate
    receiver grants the runtime role)."""
    from django.conf import settings
    from django.db import connection

    with django_db_blocker.unblock():
        dburl.superuser_remember()
        dburl.roles_create()
        dburl.database_drop_if_not_owned(connection.creation._get_test_db_name())
    dburl.connect_as("owner")
    settings.DATABASE_OWNER = dburl.owner_settings()
    settings.DATABASE_RUNTIME_USER = dburl.TEST_RUNTIME


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Then every test, the live server and the app's subprocesses connect as the runtime role
    (tests/dburl.py); the owner drops the database at the end (without ``--reuse-db``).

    A reused test database (``--reuse-db``) can be left empty by the last transactional test
    of the previous run. Then flush it once more: the flush's post_migrate re-creates content
    types and permissions, and population.replay the roles and shipped policies."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    dburl.connect_as("runtime")
    with django_db_blocker.unblock():
        if not Group.objects.exists():
            call_command("flush", interactive=False, verbosity=0)
    yield
    dburl.privileged_close()
    dburl.connect_as("owner")


@pytest.fixture
def _django_db_role(request, django_db_setup):
    """``@pytest.mark.db_role("owner" | "superuser")``: the test's connection is that role,
    switched before its transaction starts (tests/dburl.py)."""
    marker = request.node.get_closest_marker("db_role")
    if marker is None:
        yield
        return
    with dburl.connected_as(marker.args[0]):
        yield


@pytest.fixture
def _django_db_helper(_django_db_role, _django_db_helper):
    """pytest-django's database access for a test, after the role switch above."""
    yield


@pytest.fixture
def village(db):
    """A synthetic village-level unit under the real 清城区 凤城街道 (441802006)."""
    from population.models import Region, RegionLevel

    province = Region.objects.create(code="440000000000", name="广东省", level=RegionLevel.PROVINCE)
    city = Region.objects.create(
        code="441800000000", name="清远市", level=RegionLevel.CITY, parent=province
    )
    county = Region.objects.create(
        code="441802000000", name="清城区", level=RegionLevel.COUNTY, parent=city
    )
    township = Region.objects.create(
        code="441802006000", name="凤城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    return Region.objects.create(
        code="441802006001",
        name="凤城街道第一社区",
        level=RegionLevel.VILLAGE,
        parent=township,
        is_synthetic=True,
    )


@pytest.fixture
def make_person(db):
    """Create persons through the service, with valid IDs that never collide in one test."""
    from population import services

    counter = iter(range(1, 500))

    def _make(*, name="张三", born=dt.date(1990, 1, 1), male=True, hukou_region=None, **kw):
        n = next(counter)
        sequence = n * 2 + (1 if male else 0)
        citizen_id = build_citizen_id("441802", born, sequence)
        return services.person_create(
            citizen_id=citizen_id,
            name=name,
            hukou_region=hukou_region,
            actor=None,
            reason="测试",
            **kw,
        )

    return _make


@pytest.fixture
def city(village):
    """The city-level region (清远市) above ``village``."""
    return village.parent.parent.parent


@pytest.fixture
def assign_area(db):
    """Give a staff member regions of work (辖区)."""
    from population.models import OfficerRegion

    def _assign(user, *regions):
        for region in regions:
            OfficerRegion.objects.get_or_create(user=user, region=region)
        user.__dict__.pop("_popbase_area", None)
        return user

    return _assign
