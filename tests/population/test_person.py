"""Person records: services, database invariants and history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from population import selectors, services
from population.errors import Conflict, DomainError
from population.identity import build_citizen_id
from population.models import CitizenIdCorrection, Person
from tests.dburl import both_layers_refuse

pytestmark = pytest.mark.django_db


def test_person_create_takes_sex_and_birth_date_from_the_id(village):
    # given a valid ID of a woman born 2000-02-29, typed with full-width digits and lowercase x
    number = build_citizen_id("441802", dt.date(2000, 2, 29), 2)
    typed = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９x"))

    # when it is recorded
    person = services.person_create(
        citizen_id=f"  {typed} ", name=" 李四 ", hukou_region=village, actor=None, reason="测试"
    )

    # then the stored record is normalised and agrees with the ID
    person.refresh_from_db()
    assert person.citizen_id == number
    assert (person.name, person.sex, person.birth_date) == ("李四", 2, dt.date(2000, 2, 29))
    assert person.is_registered


@pytest.mark.parametrize(
    ("bad", "part_zh"),
    [
        ("44180219900101123", "18位"),
        ("4418021990010112AX", "数字"),
        ("441802199002301234", "出生日期"),
        ("441802199001011230", "校验码"),
    ],
)
def test_person_create_refuses_a_bad_id_and_writes_nothing(bad, part_zh):
    with pytest.raises(DomainError) as excinfo:
        services.person_create(citizen_id=bad, name="王五", actor=None, reason="测试")
    assert excinfo.value.code == "invalid_citizen_id"
    assert part_zh in excinfo.value.message_zh
    assert Person.objects.count() == 0


def test_person_create_refuses_a_duplicate_id(make_person):
    person = make_person()
    with pytest.raises(Conflict) as excinfo:
        services.person_create(citizen_id=person.citizen_id, name="重复", actor=None, reason="x")
    assert excinfo.value.code == "duplicate_citizen_id"
    assert person.citizen_id not in str(excinfo.value)  # the message masks the number
    assert Person.objects.count() == 1


def test_person_create_refuses_an_empty_name():
    with pytest.raises(DomainError):
        services.person_create(
            citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 1),
            name="   ",
            actor=None,
            reason="x",
        )
    assert Person.objects.count() == 0


def test_database_refuses_sex_or_birth_date_that_disagree_with_the_id(make_person):
    person = make_person(male=True, born=dt.date(1990, 1, 1))
    for sql in [
        "UPDATE population_person SET sex = 2 WHERE id = %s",
        "UPDATE population_person SET birth_date = '1990-01-02' WHERE id = %s",
        "UPDATE population_person SET citizen_id = 'ABC' WHERE id = %s",
    ]:
        # A CHECK violation, or a cast error inside the check for a non-numeric ID.
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [person.pk])
    person.refresh_from_db()
    assert (person.sex, person.birth_date) == (1, dt.date(1990, 1, 1))


def test_correcting_an_id_records_an_event_and_the_old_number_still_finds_the_person(
    make_person, django_user_model, city, assign_area
):
    officer = django_user_model.objects.create_user("officer", password="x-Strong-pass-1")
    assign_area(officer, city)  # the whole city: persons with no region too
    person = make_person(male=True, born=dt.date(1990, 1, 1))
    old = person.citizen_id
    new = build_citizen_id("441802", dt.date(1991, 3, 4), 2)  # a woman born 1991-03-04

    services.person_correct_citizen_id(
        person=person, new_citizen_id=new, actor=officer, reason="录入错误", document_number="D1"
    )

    person.refresh_from_db()
    assert (person.citizen_id, person.sex, person.birth_date) == (new, 2, dt.date(1991, 3, 4))
    correction = CitizenIdCorrection.objects.get(person=person)
    assert (correction.old_citizen_id, correction.new_citizen_id, correction.officer) == (
        old,
        new,
        officer,
    )
    assert selectors.person_get_by_citizen_id(citizen_id=old) == person
    assert selectors.person_get_by_citizen_id(citizen_id=new) == person


def test_correction_refuses_a_number_held_by_someone_else(make_person):
    a, b = make_person(), make_person()
    with pytest.raises(Conflict):
        services.person_correct_citizen_id(
            person=a, new_citizen_id=b.citizen_id, actor=None, reason="x"
        )
    a.refresh_from_db()
    assert CitizenIdCorrection.objects.count() == 0
    assert a.citizen_id != b.citizen_id


@both_layers_refuse("append_only")
def test_correction_events_are_append_only(make_person, refusal):
    person = make_person()
    services.person_correct_citizen_id(
        person=person,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 901),
        actor=None,
        reason="x",
    )
    for sql in [
        "UPDATE population_citizenidcorrection SET reason = 'y'",
        "DELETE FROM population_citizenidcorrection",
    ]:
        with pytest.raises(Exception, match=refusal), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql)
    assert CitizenIdCorrection.objects.get().reason == "x"


def test_selector_finds_nobody_for_garbage_and_unknown_numbers(make_person):
    make_person()
    assert selectors.person_get_by_citizen_id(citizen_id="not an id") is None
    assert (
        selectors.person_get_by_citizen_id(
            citizen_id=build_citizen_id("441802", dt.date(1980, 5, 5), 11)
        )
        is None
    )


def test_person_lookup_by_id_is_one_query(make_person, django_assert_num_queries, village):
    person = make_person(hukou_region=village)
    with django_assert_num_queries(1):
        found = selectors.person_get_by_citizen_id(citizen_id=person.citizen_id.lower())
        assert found.hukou_region.name == village.name


def test_every_write_keeps_who_when_what_and_why(make_person, django_user_model, city, assign_area):
    officer = django_user_model.objects.create_user("o2", password="x-Strong-pass-1")
    assign_area(officer, city)
    person = make_person(name="赵六")
    services.person_update(person=person, name="赵陆", actor=officer, reason="更正姓名")

    events = list(Person.pgh_event_model.objects.filter(pgh_obj=person).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[-1].name == "赵陆"
    assert events[-1].pgh_context.metadata == {"user": officer.pk, "reason": "更正姓名"}


def test_bulk_and_raw_sql_writes_are_recorded_too(make_person):
    person = make_person(name="钱七")
    Person.objects.filter(pk=person.pk).update(name="钱柒")
    with connection.cursor() as cur:
        cur.execute("UPDATE population_person SET name = '钱漆' WHERE id = %s", [person.pk])
    names = list(
        Person.pgh_event_model.objects.filter(pgh_obj=person)
        .order_by("pgh_id")
        .values_list("name", flat=True)
    )
    assert names == ["钱七", "钱柒", "钱漆"]


@both_layers_refuse(r"append_only|protect")
def test_history_rows_cannot_be_altered(make_person, refusal):
    make_person()
    table = Person.pgh_event_model._meta.db_table
    with pytest.raises(Exception, match=refusal), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"DELETE FROM {table}")
    assert Person.pgh_event_model.objects.count() == 1


def test_update_refuses_the_citizen_id_field(make_person):
    person = make_person()
    with pytest.raises(DomainError) as excinfo:
        services.person_update(person=person, citizen_id="x", actor=None, reason="x")
    assert excinfo.value.code == "field_not_editable"


def test_selector_returns_the_same_record_as_the_orm(
    make_person, village, django_assert_num_queries
):
    registered = make_person(name="孙一", hukou_region=village)
    registered.residence_region = village
    registered.save(update_fields=["residence_region"])
    outsider = make_person(name="孙二")  # non-registered: no hukou or residence region

    for expected in (registered, outsider):
        orm = Person.objects.select_related("hukou_region", "residence_region").get(pk=expected.pk)
        with django_assert_num_queries(1):
            found = selectors.person_get_by_citizen_id(citizen_id=expected.citizen_id)
            regions = (found.hukou_region, found.residence_region)
        fields = [f.attname for f in Person._meta.concrete_fields]
        assert [getattr(found, f) for f in fields] == [getattr(orm, f) for f in fields]
        assert regions == (orm.hukou_region, orm.residence_region)
        assert found._state.adding is False
    assert selectors.person_get_by_citizen_id(citizen_id=registered.citizen_id).hukou_region == (
        village
    )
