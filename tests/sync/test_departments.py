"""One department list for the sync and the sharing API; stored client codes recoded to it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from population import departments
from population.sharing import scopes
from population.sync import departments as sync_departments
from population.sync.feeds import FEEDS

BEFORE = [("sharing", "0001_initial")]


def test_the_sync_and_the_api_name_departments_from_one_list():
    assert scopes.Department is sync_departments.Department is departments.Department
    assert {feed.department for feed in FEEDS.values()} <= set(departments.FEED_DEPARTMENTS)
    assert set(sync_departments.AUTHORITY.values()) <= set(departments.Department.values)
    assert "education" not in departments.Department.values
    assert "civil_affairs" not in departments.Department.values


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.db_role("owner")  # migrating backward and forward is DDL
@pytest.mark.django_db(transaction=True)
def test_clients_stored_with_the_old_codes_take_the_feed_codes():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE)
    try:
        api_client = old.get_model("sharing", "ApiClient")
        for code, department in [("edu-a", "education"), ("civil-a", "civil_affairs"),
                                 ("hrss-a", "hrss"), ("stat-a", "statistics")]:  # fmt: skip
            api_client.objects.create(code=code, name=code, department=department)

        _migrate(latest)
        with connection.cursor() as cursor:
            cursor.execute("SELECT code, department FROM population_apiclient ORDER BY code")
            assert cursor.fetchall() == [
                ("civil-a", "civil"), ("edu-a", "edu"), ("hrss-a", "hrss"), ("stat-a", "statistics")
            ]  # fmt: skip

        back = _migrate(BEFORE)
        codes = dict(
            back.get_model("sharing", "ApiClient").objects.values_list("code", "department")
        )
        assert codes == {"edu-a": "education", "civil-a": "civil_affairs", "hrss-a": "hrss",
                         "stat-a": "statistics"}  # fmt: skip
    finally:
        _migrate(latest)
