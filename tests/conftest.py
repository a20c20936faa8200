"""Shared fixtures: regions of the demo city and person/household factories."""

from __future__ import annotations

import datetime as dt

import pytest

from population.identity import build_citizen_id


def _flush_past_the_truncate_guard() -> None:
    """Transactional tests end with ``flush`` (one TRUNCATE of every table), which the
    append-only tables refuse (population.audit.truncate_guard_install). The test database's
    flush runs as superuser with triggers off for that transaction only; a TRUNCATE in a test
    itself is still refused."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    if getattr(original, "past_guard", False):
        return

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else []

    sql_flush.past_guard = True
    DatabaseOperations.sql_flush = sql_flush


_flush_past_the_truncate_guard()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """A reused test database (``--reuse-db``) can be left empty by the last transactional test
    of the previous run. Then flush it once more: the flush's post_migrate re-creates content
    types and permissions, and population.replay the roles and shipped policies."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    with django_db_blocker.unblock():
        if not Group.objects.exists():
            call_command("flush", interactive=False, verbosity=0)


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
