"""The officers' admin: roles, masking of citizen IDs, search, forms, queries, lockout."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission

from population import roles
from population.codes import Relation
from population.identity import (
    InvalidCitizenId,
    build_citizen_id,
    mask_citizen_id,
    parse_citizen_id,
)
from population.models import Person, PersonStatus, Region, RegionLevel
from registry.models import Household, Membership

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/population/person/"
ADD = "/admin/population/person/add/"
PASSWORD = "x-Strong-pass-1"


def change_url(person: Person) -> str:
    return f"/admin/population/person/{person.pk}/change/"


def full_width(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


@pytest.fixture
def staff_user(django_user_model, city, assign_area):
    """A staff user in the given roles, optionally with extra ``app_label.codename`` perms.

    Their area is the whole city (jurisdictions are tested in tests/population/test_jurisdiction).
    """
    counter = iter(range(1, 100))

    def _make(*role_names: str, perms: tuple[str, ...] = (), username: str | None = None):
        user = django_user_model.objects.create_user(
            username or f"staff{next(counter)}", password=PASSWORD, is_staff=True
        )
        groups = list(Group.objects.filter(name__in=role_names))
        assert len(groups) == len(role_names)
        user.groups.add(*groups)
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        assign_area(user, city)
        return django_user_model.objects.get(pk=user.pk)  # fresh permission cache

    return _make


@pytest.fixture
def officer(staff_user):
    return staff_user(roles.REGISTRATION_OFFICER, username="officer")


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def rows(response) -> list[Person]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def history(person: Person) -> list:
    return list(Person.pgh_event_model.objects.filter(pgh_obj=person).order_by("pgh_id"))


# -- roles -------------------------------------------------------------------------------------


def test_the_four_roles_exist_after_migrations():
    names = set(Group.objects.values_list("name", flat=True))
    assert set(roles.ALL_ROLES) <= names
    assert roles.ALL_ROLES == ("户籍民警", "户籍主管", "统计人员", "审计人员")


@pytest.mark.parametrize(
    ("role", "view", "full_id", "add", "change"),
    [
        (roles.REGISTRATION_OFFICER, True, True, True, True),
        (roles.SUPERVISOR, True, True, True, True),
        (roles.STATISTICIAN, False, False, False, False),
        (roles.AUDITOR, True, True, False, False),
    ],
)
def test_role_permissions_on_persons(staff_user, role, view, full_id, add, change):
    user = staff_user(role)
    assert {
        "view": user.has_perm("population.view_person"),
        "full_id": user.has_perm("population.view_full_citizen_id"),
        "add": user.has_perm("population.add_person"),
        "change": user.has_perm("population.change_person"),
        "delete": user.has_perm("population.delete_person"),
    } == {"view": view, "full_id": full_id, "add": add, "change": change, "delete": False}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (roles.REGISTRATION_OFFICER, {"view", "add", "change"}),
        (roles.SUPERVISOR, {"view", "add", "change"}),
        (roles.STATISTICIAN, set()),
        (roles.AUDITOR, {"view"}),
    ],
)
def test_role_permissions_on_households(staff_user, role, expected):
    user = staff_user(role)
    actions = ("view", "add", "change", "delete")
    assert {a for a in actions if user.has_perm(f"registry.{a}_household")} == expected
    assert {a for a in actions if user.has_perm(f"registry.{a}_membership")} == expected


# -- person changelist -------------------------------------------------------------------------


def test_officer_sees_ids_masked_in_the_changelist(officer_client, make_person, village):
    # given two persons, one registered here
    a = make_person(name="陈一", hukou_region=village)
    b = make_person(name="李二", male=False)

    # when the officer opens the list
    response = officer_client.get(CHANGELIST)

    # then both rows are there, with masked numbers only
    assert {p.pk for p in rows(response)} == {a.pk, b.pk}
    html = response.content.decode()
    for person in (a, b):
        assert mask_citizen_id(person.citizen_id) in html
        assert person.citizen_id not in html
        assert person.citizen_id[6:14] not in html  # not even the birth-date part
    assert "非本市户籍" in html and village.name in html


@pytest.fixture
def x_person(make_person):
    """A person whose citizen ID ends with the check character X."""
    from population import services

    number = build_citizen_id("441802", dt.date(1985, 6, 15), 7)
    assert number.endswith("X")
    make_person(name="陈一")  # someone else, who must not be found
    return services.person_create(citizen_id=number, name="黄小明", actor=None, reason="测试")


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda n: n, id="exact"),
        pytest.param(lambda n: n.lower(), id="lowercase-x"),
        pytest.param(lambda n: full_width(n), id="full-width-digits"),
        pytest.param(lambda n: f"  {n}  ", id="surrounding-spaces"),
        pytest.param(lambda n: f"{n[:6]} {n[6:14]} {n[14:]}", id="inner-spaces"),
    ],
)
def test_search_by_full_id_opens_exactly_that_person(officer_client, x_person, typed):
    response = officer_client.get(CHANGELIST, {"q": typed(x_person.citizen_id)})
    # The record opens directly; its address carries the surrogate key, never the number.
    assert response.status_code == 302
    assert response["Location"] == change_url(x_person)


def test_search_by_legacy_15_digit_number_opens_the_person(officer_client, make_person):
    person = make_person(born=dt.date(1965, 3, 8))
    legacy = person.citizen_id[:6] + person.citizen_id[8:17]
    response = officer_client.get(CHANGELIST, {"q": legacy})
    assert (response.status_code, response["Location"]) == (302, change_url(person))


def test_search_by_an_unknown_valid_id_says_so_with_the_number_masked(officer_client, make_person):
    make_person()
    unknown = build_citizen_id("441802", dt.date(1970, 7, 7), 5)

    response = officer_client.get(CHANGELIST, {"q": unknown}, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    html = response.content.decode()
    assert f"未找到公民身份号码为{mask_citizen_id(unknown)}的人员" in html
    assert unknown not in html


def test_search_by_a_former_number_finds_the_corrected_person(officer_client, make_person):
    from population import services

    person = make_person()
    old = person.citizen_id
    services.person_correct_citizen_id(
        person=person,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 901),
        actor=None,
        reason="录入错误",
    )
    response = officer_client.get(CHANGELIST, {"q": old})
    assert (response.status_code, response["Location"]) == (302, change_url(person))


def test_search_by_name_prefix(officer_client, make_person):
    a = make_person(name="欧阳锋")
    b = make_person(name="欧阳克")
    make_person(name="黄药师")
    make_person(name="阳顶天")  # contains 阳 but does not start with 欧阳

    response = officer_client.get(CHANGELIST, {"q": "欧阳"})

    assert {p.pk for p in rows(response)} == {a.pk, b.pk}
    assert [p.pk for p in rows(officer_client.get(CHANGELIST, {"q": " 欧阳锋 "}))] == [a.pk]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("44180219900101003", id="17-digits"),
        pytest.param("441802199001010030", id="wrong-check-digit"),
        pytest.param("441802199002300031", id="impossible-date"),
        pytest.param("4418021990", id="too-short"),
    ],
)
def test_search_with_a_malformed_id_finds_nobody_and_warns(officer_client, make_person, bad):
    # given a person whose number is close to the typed one
    make_person(born=dt.date(1990, 1, 1))
    with pytest.raises(InvalidCitizenId) as excinfo:
        parse_citizen_id(bad)

    # when the officer searches for the malformed number
    response = officer_client.get(CHANGELIST, {"q": bad})

    # then nothing is listed, and the reason is shown in Chinese (no English on officer pages)
    assert rows(response) == []
    html = response.content.decode()
    assert f"无法按身份号码查找：{excinfo.value.message_zh}" in html
    assert excinfo.value.message_en not in html


@pytest.fixture
def mixed_persons(make_person, village):
    active = make_person(name="在册", hukou_region=village)
    deceased = make_person(name="已故", hukou_region=village)
    cancelled = make_person(name="已注销", hukou_region=village)
    visitor = make_person(name="外来", male=False)
    Person.objects.filter(pk=deceased.pk).update(status=PersonStatus.DECEASED)
    Person.objects.filter(pk=cancelled.pk).update(status=PersonStatus.CANCELLED)
    return {"active": active, "deceased": deceased, "cancelled": cancelled, "visitor": visitor}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"active", "deceased", "cancelled", "visitor"}),
        ({"status": "deceased"}, {"deceased"}),
        ({"status": "cancelled"}, {"cancelled"}),
        ({"status": "active"}, {"active", "visitor"}),
        ({"registered": "no"}, {"visitor"}),
        ({"registered": "yes"}, {"active", "deceased", "cancelled"}),
        ({"registered": "yes", "status": "active"}, {"active"}),
        ({"sex": "2"}, {"visitor"}),
    ],
)
def test_changelist_filters(officer_client, mixed_persons, params, expected):
    response = officer_client.get(CHANGELIST, params)
    assert {p.pk for p in rows(response)} == {mixed_persons[k].pk for k in expected}


def test_county_filter(officer_client, make_person, village):
    # given a second county of the city with a village of its own
    county = Region.objects.create(
        code="441803000000", name="清新区", level=RegionLevel.COUNTY, parent_id="441800000000"
    )
    township = Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    other_village = Region.objects.create(
        code="441803100200", name="太和镇第一村委会", level=RegionLevel.VILLAGE, parent=township
    )
    here = make_person(name="清城人", hukou_region=village)
    there = make_person(name="清新人", hukou_region=other_village)
    make_person(name="外来人")

    assert [p.pk for p in rows(officer_client.get(CHANGELIST, {"county": "441802"}))] == [here.pk]
    assert [p.pk for p in rows(officer_client.get(CHANGELIST, {"county": "441803"}))] == [there.pk]
    # both counties are offered as choices
    html = officer_client.get(CHANGELIST).content.decode()
    assert "?county=441802" in html and "?county=441803" in html


def test_county_filter_ignores_a_malformed_value(officer_client, make_person, village):
    a = make_person(hukou_region=village)
    b = make_person()
    response = officer_client.get(CHANGELIST, {"county": "4418"})
    assert {p.pk for p in rows(response)} == {a.pk, b.pk}


# -- person detail -----------------------------------------------------------------------------


def test_officer_sees_the_full_id_on_the_detail_page(officer_client, make_person, village):
    person = make_person(name="陈一", hukou_region=village)
    response = officer_client.get(change_url(person))
    assert response.status_code == 200
    assert person.citizen_id in response.content.decode()


def test_auditor_sees_the_full_id_read_only(client, staff_user, make_person):
    person = make_person(name="陈一")
    client.force_login(staff_user(roles.AUDITOR))
    response = client.get(change_url(person))
    assert response.status_code == 200
    html = response.content.decode()
    assert person.citizen_id in html
    assert 'name="name"' not in html  # no editable inputs


def test_statistician_with_view_person_sees_only_the_masked_id(client, staff_user, make_person):
    # given a statistician who was explicitly allowed to view persons
    person = make_person(name="陈一")
    user = staff_user(roles.STATISTICIAN, perms=("population.view_person",))
    assert not user.has_perm("population.view_full_citizen_id")
    client.force_login(user)

    # when they open the person
    response = client.get(change_url(person))

    # then the number is masked, and the page cannot change anything
    assert response.status_code == 200
    html = response.content.decode()
    assert mask_citizen_id(person.citizen_id) in html
    assert person.citizen_id not in html
    assert 'name="name"' not in html
    # the list masks too
    listed = client.get(CHANGELIST)
    assert [p.pk for p in rows(listed)] == [person.pk]
    assert person.citizen_id not in listed.content.decode()


def test_statistician_without_view_person_cannot_open_persons(client, staff_user, make_person):
    person = make_person()
    client.force_login(staff_user(roles.STATISTICIAN))
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(person)).status_code == 403


def test_citizen_id_corrections_are_masked_without_the_full_id_permission(
    client, staff_user, make_person
):
    from population import services
    from population.models import CitizenIdCorrection

    # given a corrected number, and a statistician allowed to read corrections
    person = make_person()
    old = person.citizen_id
    new = build_citizen_id("441802", dt.date(1990, 1, 1), 901)
    services.person_correct_citizen_id(
        person=person, new_citizen_id=new, actor=None, reason="录入错误"
    )
    correction = CitizenIdCorrection.objects.get()
    user = staff_user(roles.STATISTICIAN, perms=("population.view_citizenidcorrection",))
    client.force_login(user)

    # when they open the list and the record
    listed = client.get("/admin/population/citizenidcorrection/")
    detail = client.get(f"/admin/population/citizenidcorrection/{correction.pk}/change/")

    # then both numbers are masked on both pages
    for response in (listed, detail):
        assert response.status_code == 200
        html = response.content.decode()
        assert mask_citizen_id(old) in html and mask_citizen_id(new) in html
        assert old not in html and new not in html
    assert "录入错误" in detail.content.decode()


def test_citizen_id_corrections_show_full_numbers_to_the_officer(officer_client, make_person):
    from population import services
    from population.models import CitizenIdCorrection

    person = make_person()
    old = person.citizen_id
    new = build_citizen_id("441802", dt.date(1990, 1, 1), 901)
    services.person_correct_citizen_id(
        person=person, new_citizen_id=new, actor=None, reason="录入错误"
    )
    correction = CitizenIdCorrection.objects.get()
    listed = officer_client.get("/admin/population/citizenidcorrection/")
    assert old not in listed.content.decode()  # the list masks for everyone
    detail = officer_client.get(f"/admin/population/citizenidcorrection/{correction.pk}/change/")
    assert detail.status_code == 200
    assert old in detail.content.decode() and new in detail.content.decode()


# -- add form ----------------------------------------------------------------------------------


def add_data(citizen_id: str, **overrides) -> dict:
    data = {
        "citizen_id": citizen_id,
        "name": "新生儿",
        "ethnicity": "01",
        "hukou_region": "",
        "residence_region": "",
        "reason": "出生登记",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("44180219900101003", "应为18位"),
        ("4418021990010100AX", "前17位必须是数字"),
        ("441802199002300031", "出生日期码错误"),
        ("441802199001010030", "校验码错误"),
        ("991802199001010039", "省级代码99不存在"),
        ("", "该字段是必填项"),
    ],
)
def test_add_form_refuses_a_malformed_id_and_creates_nobody(officer_client, bad, error):
    response = officer_client.post(ADD, add_data(bad))

    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["citizen_id"]
    assert error in errors["citizen_id"][0]
    assert error in response.content.decode()
    assert Person.objects.count() == 0


def test_add_form_refuses_a_duplicate_id(officer_client, make_person):
    existing = make_person(name="原有")
    typed = (
        existing.citizen_id.lower() if existing.citizen_id.endswith("X") else existing.citizen_id
    )

    response = officer_client.post(ADD, add_data(f" {full_width(typed)} "))

    assert response.status_code == 200
    message = response.context["adminform"].form.errors["citizen_id"][0]
    assert message == (
        f"公民身份号码{mask_citizen_id(existing.citizen_id)}已登记 / "
        f"citizen ID {mask_citizen_id(existing.citizen_id)} is already recorded"
    )
    assert existing.citizen_id not in message
    assert list(Person.objects.values_list("name", flat=True)) == ["原有"]


def test_add_form_requires_a_reason(officer_client):
    number = build_citizen_id("441802", dt.date(2024, 5, 6), 2)
    response = officer_client.post(ADD, add_data(number, reason=""))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["reason"]
    assert Person.objects.count() == 0


def test_add_form_creates_the_person_with_sex_and_birth_date_from_the_id(
    officer_client, officer, village
):
    # given a girl's number typed with full-width digits and lowercase x
    number = build_citizen_id("441802", dt.date(2024, 5, 6), 2)
    typed = full_width(number).replace("X", "x")

    # when the officer adds her
    response = officer_client.post(
        ADD, add_data(f" {typed} ", name=" 林小妹 ", hukou_region=village.pk)
    )

    # then she is recorded, normalised, with sex and birth date taken from the number
    assert response.status_code == 302
    person = Person.objects.get()
    assert (person.citizen_id, person.name, person.sex, person.birth_date) == (
        number,
        "林小妹",
        2,
        dt.date(2024, 5, 6),
    )
    assert (person.hukou_region, person.residence_region) == (village, None)
    # and the history says who and why
    [event] = history(person)
    assert event.pgh_label == "insert"
    metadata = event.pgh_context.metadata
    assert (metadata["user"], metadata["reason"]) == (officer.pk, "出生登记")


def test_add_form_warns_about_an_address_code_no_edition_had(officer_client):
    number = build_citizen_id("441899", dt.date(2000, 1, 1), 11)
    response = officer_client.post(ADD, add_data(number), follow=True)
    assert response.status_code == 200
    assert Person.objects.get().citizen_id == number
    html = response.content.decode()
    assert "地址码441899不在任何一版GB/T 2260中，请核实" in html


def test_auditor_cannot_add(client, staff_user):
    client.force_login(staff_user(roles.AUDITOR))
    number = build_citizen_id("441802", dt.date(2024, 5, 6), 2)
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, add_data(number)).status_code == 403
    assert Person.objects.count() == 0


# -- change form -------------------------------------------------------------------------------


def change_data(person: Person, **overrides) -> dict:
    data = {
        "name": person.name,
        "ethnicity": person.ethnicity,
        "hukou_region": person.hukou_region_id or "",
        "residence_region": person.residence_region_id or "",
        "reason": "更正姓名",
    }
    data.update(overrides)
    return data


def test_changing_the_residence_writes_an_update_event_with_the_reason(
    officer_client, officer, make_person, village
):
    person = make_person(name="赵六", hukou_region=village)

    response = officer_client.post(
        change_url(person), change_data(person, residence_region=village.pk, reason="搬家")
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.residence_region == village
    events = history(person)
    assert [e.pgh_label for e in events] == ["insert", "update"]
    metadata = events[-1].pgh_context.metadata
    assert (metadata["user"], metadata["reason"]) == (officer.pk, "搬家")


def test_the_change_form_changes_no_identity_or_hukou_field(officer_client, make_person, village):
    # given a man born 1990-01-01 with no hukou here
    person = make_person(name="赵六", male=True, born=dt.date(1990, 1, 1))
    original = person.citizen_id
    other = build_citizen_id("441802", dt.date(1991, 3, 4), 2)  # a woman's number

    # when the officer posts a new name, ethnicity, 户籍地, number, sex, birth date and status
    response = officer_client.post(
        change_url(person),
        change_data(
            person,
            name="赵陆",
            ethnicity="08",
            hukou_region=village.pk,
            citizen_id=other,
            sex="2",
            birth_date="1991-03-04",
            status="deceased",
            residence_region=village.pk,
        ),
    )

    # then only the actual residence changed: identity and hukou go through registration events
    assert response.status_code == 302
    person.refresh_from_db()
    assert (
        person.name,
        person.ethnicity,
        person.hukou_region,
        person.citizen_id,
        person.sex,
        person.birth_date,
        person.status,
        person.residence_region,
    ) == ("赵六", "01", None, original, 1, dt.date(1990, 1, 1), PersonStatus.ACTIVE, village)
    assert not Person.objects.filter(citizen_id=other).exists()
    fields = officer_client.get(change_url(person)).context["adminform"].form.fields
    assert set(fields) == {"residence_region", "reason"}


def test_the_change_form_requires_a_reason(officer_client, make_person, village):
    person = make_person(name="赵六")
    response = officer_client.post(
        change_url(person), change_data(person, residence_region=village.pk, reason="")
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["reason"]
    person.refresh_from_db()
    assert person.residence_region is None
    assert len(history(person)) == 1


@pytest.mark.parametrize("status", [PersonStatus.DECEASED, PersonStatus.CANCELLED])
def test_a_deceased_or_cancelled_person_is_read_only(officer_client, make_person, status):
    # given a person whose record is closed
    person = make_person(name="赵六")
    Person.objects.filter(pk=person.pk).update(status=status)
    person.refresh_from_db()

    # when the officer opens and then tries to save the record
    page = officer_client.get(change_url(person))
    saved = officer_client.post(change_url(person), change_data(person, name="赵陆"))

    # then the page shows it without inputs, the save is refused and nothing changed
    assert page.status_code == 200
    assert person.citizen_id in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    assert saved.status_code == 403
    person.refresh_from_db()
    assert (person.name, person.status) == ("赵六", status)
    assert [e.pgh_label for e in history(person)] == ["insert", "update"]


def test_a_duplicate_recorded_concurrently_is_reported_not_a_server_error(
    officer_client, monkeypatch
):
    from population import services
    from population.errors import Conflict

    def racing_create(**kwargs):
        raise Conflict("公民身份号码已登记", "citizen ID is already recorded", code="duplicate")

    monkeypatch.setattr(services, "person_create", racing_create)
    officer_client.raise_request_exception = False
    number = build_citizen_id("441802", dt.date(2024, 5, 6), 2)

    response = officer_client.post(ADD, add_data(number), follow=True)

    assert response.redirect_chain == [(ADD, 302)]
    assert "公民身份号码已登记" in response.content.decode()
    assert not Person.objects.filter(citizen_id=number).exists()


# -- delete ------------------------------------------------------------------------------------


def test_persons_cannot_be_deleted_even_by_a_superuser(client, django_user_model, make_person):
    admin_user = django_user_model.objects.create_superuser("root", password=PASSWORD)
    person = make_person()
    client.force_login(admin_user)

    page = client.get(change_url(person))
    assert page.status_code == 200
    assert f"/admin/population/person/{person.pk}/delete/" not in page.content.decode()
    assert client.get(f"/admin/population/person/{person.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/population/person/{person.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    # nor through the bulk action
    listed = client.get(CHANGELIST)
    assert "delete_selected" not in listed.content.decode()
    assert Person.objects.filter(pk=person.pk).exists()


# -- query count -------------------------------------------------------------------------------


def _populate(make_person, village, n: int, start: int = 0) -> None:
    households = [
        Household.objects.create(number=f"Q{start + i}", address=f"凤城路{i}号", region=village)
        for i in range(max(1, n // 3))
    ]
    for i in range(n):
        person = make_person(
            name=f"人{i}", born=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28), hukou_region=village
        )
        household = households[i % len(households)]
        Membership.objects.create(
            person=person,
            household=household,
            relation=Relation.HEAD if i < len(households) else Relation.SON,
            start_date=dt.date(2020, 1, 1),
        )


def _count_changelist_queries(client, django_assert_max_num_queries) -> int:
    # The page itself, plus the read-audit row (chain lock, last hash, insert, savepoint).
    with django_assert_max_num_queries(14) as captured:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_changelist_query_count_does_not_grow_with_rows(
    officer_client, make_person, village, django_assert_max_num_queries
):
    _populate(make_person, village, 5)
    few = _count_changelist_queries(officer_client, django_assert_max_num_queries)
    assert len(rows(officer_client.get(CHANGELIST))) == 5

    _populate(make_person, village, 25, start=100)
    many = _count_changelist_queries(officer_client, django_assert_max_num_queries)
    assert len(rows(officer_client.get(CHANGELIST))) == 30

    assert few == many


# -- households --------------------------------------------------------------------------------


@pytest.fixture
def household(make_person, village):
    household = Household.objects.create(
        number="441802000000001", address="凤城路1号", region=village
    )
    head = make_person(name="户主甲", hukou_region=village)
    wife = make_person(name="妻子乙", male=False, hukou_region=village)
    for person, relation in ((head, Relation.HEAD), (wife, Relation.WIFE)):
        Membership.objects.create(
            person=person, household=household, relation=relation, start_date=dt.date(2020, 1, 1)
        )
    return household, [head, wife]


def test_household_changelist_renders_for_the_officer(officer_client, household):
    household, _ = household
    response = officer_client.get("/admin/registry/household/")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [household]
    assert household.address in response.content.decode()


def test_household_change_page_masks_ids_in_the_membership_inline(officer_client, household):
    household, members = household
    response = officer_client.get(f"/admin/registry/household/{household.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    for person in members:
        assert f"{person.name}（{mask_citizen_id(person.citizen_id)}）" in html
        assert person.citizen_id not in html
    assert "户主" in html and "妻" in html


def test_officer_can_change_a_household_without_touching_its_members(
    officer_client, officer, household
):
    household, _ = household
    memberships = list(Membership.objects.filter(household=household).order_by("pk"))
    data = {
        "number": household.number,
        "kind": household.kind,
        "address": "凤城路2号",
        "region": household.region_id,
        "closed_on": "",
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(len(memberships)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, membership in enumerate(memberships):
        data[f"memberships-{i}-id"] = str(membership.pk)
        data[f"memberships-{i}-household"] = str(household.pk)

    response = officer_client.post(f"/admin/registry/household/{household.pk}/change/", data)

    assert response.status_code == 302
    household.refresh_from_db()
    assert household.address == "凤城路2号"
    assert [
        (m.person_id, m.relation, m.end_date)
        for m in Membership.objects.filter(household=household).order_by("pk")
    ] == [(m.person_id, m.relation, None) for m in memberships]
    [event] = Household.pgh_event_model.objects.filter(pgh_obj=household, pgh_label="update")
    assert event.address == "凤城路2号"
    assert event.pgh_context.metadata["user"] == officer.pk


def test_membership_changelist_masks_ids(officer_client, household):
    _, members = household
    response = officer_client.get("/admin/registry/membership/")
    assert response.status_code == 200
    html = response.content.decode()
    for person in members:
        assert mask_citizen_id(person.citizen_id) in html
        assert person.citizen_id not in html


# -- login lockout (django-axes) ---------------------------------------------------------------


def _login(client, username: str, password: str):
    return client.post(
        "/admin/login/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR="203.0.113.7",
    )


def test_five_failed_logins_lock_the_username_out_even_with_the_right_password(client, staff_user):
    staff_user(roles.REGISTRATION_OFFICER, username="target")
    bystander = staff_user(roles.REGISTRATION_OFFICER, username="bystander")

    # four failures show the login form again; the fifth locks the pair out
    statuses = [_login(client, "target", "wrong-password").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert "_auth_user_id" not in client.session

    locked = _login(client, "target", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session

    # another username from the same address still logs in
    other = _login(client, "bystander", PASSWORD)
    assert other.status_code == 302
    assert client.session["_auth_user_id"] == str(bystander.pk)


def test_four_failures_then_the_right_password_logs_in(client, staff_user):
    user = staff_user(roles.REGISTRATION_OFFICER, username="careless")
    for _ in range(4):
        _login(client, "careless", "wrong-password")
    response = _login(client, "careless", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


# -- every page, every role --------------------------------------------------------------------


@pytest.fixture
def one_of_everything(make_person, village):
    from population import services
    from population.models import CitizenIdCorrection, RegionUrbanRural

    RegionUrbanRural.objects.create(region=village, year=2024, code="111")
    person = make_person(hukou_region=village)
    old = person.citizen_id
    services.person_correct_citizen_id(
        person=person,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 1, 1), 901),
        actor=None,
        reason="录入错误",
    )
    person.refresh_from_db()
    household = Household.objects.create(number="H1", address="凤城路1号", region=village)
    membership = Membership.objects.create(
        person=person, household=household, relation=Relation.HEAD, start_date=dt.date(2020, 1, 1)
    )
    correction = CitizenIdCorrection.objects.get()
    urls = [
        "/admin/",
        CHANGELIST,
        ADD,
        change_url(person),
        f"/admin/population/person/{person.pk}/history/",
        "/admin/population/region/",
        f"/admin/population/region/{village.code}/change/",
        "/admin/population/regionurbanrural/",
        "/admin/population/countycode/",
        "/admin/population/citizenidcorrection/",
        f"/admin/population/citizenidcorrection/{correction.pk}/change/",
        "/admin/registry/household/",
        "/admin/registry/household/add/",
        f"/admin/registry/household/{household.pk}/change/",
        "/admin/registry/membership/",
        "/admin/registry/membership/add/",
        f"/admin/registry/membership/{membership.pk}/change/",
    ]
    return urls, [old, person.citizen_id]


READ_EVERYTHING = (
    "population.view_person",
    "population.view_citizenidcorrection",
    "registry.view_household",
    "registry.view_membership",
)


@pytest.mark.parametrize(
    ("role", "perms"),
    [
        *[(role, ()) for role in roles.ALL_ROLES],
        # a statistician explicitly allowed to read everything still never sees a full number
        (roles.STATISTICIAN, READ_EVERYTHING),
    ],
)
def test_every_admin_page_renders_or_is_forbidden_for_every_role(
    client, staff_user, one_of_everything, role, perms
):
    urls, numbers = one_of_everything
    user = staff_user(role, perms=perms)
    client.force_login(user)
    sees_full_ids = user.has_perm("population.view_full_citizen_id")
    statuses = {}
    for url in urls:
        response = client.get(url)
        statuses[url] = response.status_code
        if not sees_full_ids and response.status_code == 200:
            html = response.content.decode()
            assert not any(n in html for n in numbers), url
    assert set(statuses.values()) <= {200, 403}
    assert statuses["/admin/"] == statuses["/admin/population/region/"] == 200
    can_read = role != roles.STATISTICIAN or bool(perms)
    assert statuses[CHANGELIST] == statuses[change_url_from(urls)] == (200 if can_read else 403)
    can_add = role in (roles.REGISTRATION_OFFICER, roles.SUPERVISOR)
    assert statuses[ADD] == statuses["/admin/registry/household/add/"] == (403, 200)[can_add]
    if perms:
        assert sum(code == 200 for code in statuses.values()) == len(urls) - 3  # the add pages


def change_url_from(urls: list[str]) -> str:
    return next(u for u in urls if u.startswith(CHANGELIST) and u.endswith("/change/"))
