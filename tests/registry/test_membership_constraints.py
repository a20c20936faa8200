"""Household invariants hold in the database, even against raw SQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from population.codes import Relation
from registry.models import Household, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_households(village):
    return (
        Household.objects.create(number="H1", address="凤城路1号", region=village),
        Household.objects.create(number="H2", address="凤城路2号", region=village),
    )


def _insert_membership(person_id, household_id, relation, end=None):
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO registry_membership (person_id, household_id, relation, start_date,"
            " end_date) VALUES (%s, %s, %s, %s, %s)",
            [person_id, household_id, relation, dt.date(2020, 1, 1), end],
        )


def test_a_second_open_membership_inserted_by_raw_sql_is_refused(make_person, two_households):
    h1, h2 = two_households
    person = make_person()
    _insert_membership(person.pk, h1.pk, Relation.HEAD)

    with pytest.raises(IntegrityError, match="membership_one_open_per_person"):
        with transaction.atomic():
            _insert_membership(person.pk, h2.pk, Relation.SON)

    assert list(Membership.objects.values_list("household__number", flat=True)) == ["H1"]


def test_closed_memberships_do_not_count_as_open(make_person, two_households):
    h1, h2 = two_households
    person = make_person()
    _insert_membership(person.pk, h1.pk, Relation.HEAD, end=dt.date(2021, 1, 1))
    _insert_membership(person.pk, h2.pk, Relation.HEAD)
    assert Membership.objects.filter(person=person).count() == 2


def test_a_second_head_is_refused(make_person, two_households):
    h1, _ = two_households
    a, b = make_person(), make_person()
    _insert_membership(a.pk, h1.pk, Relation.HEAD)
    with pytest.raises(IntegrityError, match="membership_one_head_per_household"):
        with transaction.atomic():
            _insert_membership(b.pk, h1.pk, Relation.HEAD)
    _insert_membership(b.pk, h1.pk, Relation.WIFE)
    assert Membership.objects.filter(household=h1).count() == 2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Relation.HEAD, Relation.SELF),
        (Relation.SELF, Relation.HEAD),
        (Relation.SELF, Relation.SELF),
    ],
    ids=["head-then-self", "self-then-head", "self-twice"],
)
def test_a_second_self_or_head_is_refused(make_person, two_households, first, second):
    # 本人 (01) and 户主 (02) both name the head: one of either per household
    h1, _ = two_households
    a, b = make_person(), make_person()
    _insert_membership(a.pk, h1.pk, first)
    with pytest.raises(IntegrityError, match="membership_one_head_per_household"):
        with transaction.atomic():
            _insert_membership(b.pk, h1.pk, second)
    assert Membership.objects.filter(household=h1).count() == 1


def test_end_before_start_is_refused(make_person, two_households):
    h1, _ = two_households
    person = make_person()
    with pytest.raises(IntegrityError, match="membership_dates_ordered"):
        with transaction.atomic():
            _insert_membership(person.pk, h1.pk, Relation.HEAD, end=dt.date(2019, 1, 1))
