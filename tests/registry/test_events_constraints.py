"""Registration events: the database's own refusals (triggers and CHECK constraints), attacked
by raw SQL; each leaves every row as it was.
"""

from __future__ import annotations

import pytest
from django.db import (
    DatabaseError,
    connection,
    transaction,
)

from population.codes import Relation
from registry import services
from tests.dburl import both_layers_refuse
from tests.registry.event_helpers import (
    LATER,
    close,
    state,
)

pytestmark = pytest.mark.django_db


# -- the database triggers ----------------------------------------------------------------------


def _insert_open_membership(person_id: int, household_id: int, relation: str) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO registry_membership (person_id, household_id, relation, start_date)"
            " VALUES (%s, %s, %s, %s)",
            [person_id, household_id, relation, LATER],
        )


def test_the_database_refuses_an_open_membership_for_a_deceased_person(ns):
    services.death_cancel(person=ns.son, death_date=LATER, document_number="S1", actor=None)
    before = state()
    with pytest.raises(DatabaseError, match="deceased or cancelled"), transaction.atomic():
        _insert_open_membership(ns.son.pk, ns.spare.pk, Relation.HEAD)
    assert state() == before


def test_the_database_refuses_an_open_membership_in_a_closed_household(ns):
    close(ns.spare)
    before = state()
    with pytest.raises(DatabaseError, match="is closed"), transaction.atomic():
        _insert_open_membership(ns.outsider.pk, ns.spare.pk, Relation.HEAD)
    assert state() == before


def test_the_database_refuses_a_relation_outside_gbt_4761(ns):
    before = state()
    with pytest.raises(DatabaseError, match="membership_relation_gbt4761"), transaction.atomic():
        _insert_open_membership(ns.outsider.pk, ns.spare.pk, "ZZ")
    assert state() == before


def test_the_database_refuses_an_unknown_household_kind(ns):
    before = state()
    with pytest.raises(DatabaseError, match="household_kind_known"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("UPDATE registry_household SET kind = 'bogus' WHERE id = %s", [ns.spare.pk])
    assert state() == before


@both_layers_refuse(r"append_only|Cannot update or delete")
def test_registration_events_are_append_only(ns, refusal):
    before = state()
    for sql in [
        "UPDATE registry_registrationevent SET reason = 'x'",
        "DELETE FROM registry_registrationevent",
    ]:
        with pytest.raises(DatabaseError, match=refusal):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql)
    assert state() == before
