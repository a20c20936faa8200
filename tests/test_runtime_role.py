"""The test suite runs as the app does: the runtime role, with only its grants (tests/dburl.py).
An owner or superuser connection is asked for by a test in so many words."""

from __future__ import annotations

import dj_database_url
import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from population.models import Person
from tests import dburl

pytestmark = pytest.mark.django_db


def _who() -> tuple[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        return cursor.fetchone()


def _tables_owned_by(role: str | None) -> int:
    """Tables of the public schema owned by ``role`` (all of them for None)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            " AND tableowner = coalesce(%s, tableowner)",
            [role],
        )
        return cursor.fetchone()[0]


def test_a_test_connects_as_the_runtime_role_which_owns_nothing():
    assert _who() == (dburl.TEST_RUNTIME, False)
    assert _tables_owned_by(dburl.TEST_RUNTIME) == 0
    # Every table of the test database is the owner's, made by its migrations.
    assert _tables_owned_by(dburl.TEST_OWNER) == _tables_owned_by(None) > 50
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE population_person CASCADE")
    with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE population_person ADD COLUMN x integer")


@pytest.mark.db_role("owner")
def test_the_owner_marker_connects_as_the_owner():
    assert _who() == (dburl.TEST_OWNER, False)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE population_person ADD COLUMN x integer")  # rolled back


@pytest.mark.db_role("superuser")
def test_the_superuser_marker_connects_as_database_url_s_user():
    user, superuser = _who()
    assert superuser and user == dburl.credentials("superuser")["USER"]


def test_the_role_comes_back_after_a_marked_test():
    assert _who() == (dburl.TEST_RUNTIME, False)


@pytest.mark.django_db(transaction=True)
def test_a_subprocess_of_the_app_gets_the_runtime_role_and_the_flush_still_empties(make_person):
    """The URL a test hands to a worker or a command logs in as the runtime role; the flush
    after this transactional test (as the superuser) empties the tables the role cannot."""
    make_person(name="流程")
    url = dburl.subprocess_database_url()
    parsed = dj_database_url.parse(url)
    assert parsed["USER"] == dburl.TEST_RUNTIME
    with psycopg.connect(
        host=parsed["HOST"] or "127.0.0.1",
        port=parsed["PORT"] or 5432,
        user=parsed["USER"],
        dbname=parsed["NAME"],
    ) as other:
        assert other.execute("SELECT current_user, count(*) FROM population_person").fetchone() == (
            dburl.TEST_RUNTIME,
            1,
        )
    assert dj_database_url.parse(dburl.owner_database_url())["USER"] == dburl.TEST_OWNER


def test_the_transactional_test_before_left_no_person():
    # Runs after the test above in one worker only when both land there; either way the table
    # must hold nothing made by another test.
    assert not Person.objects.exists()
