"""Finding people by what an officer knows, in the person list, the household and member lists
and Django's autocomplete: the ID as typed, name plus birth date, pinyin, traditional
characters; always inside the officer's area, never showing an internal number."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Group

from population import roles
from population.codes import Relation
from population.identity import build_citizen_id, mask_citizen_id
from population.models import Person, Region, RegionLevel
from registry import services
from registry.models import HouseholdKind

pytestmark = pytest.mark.django_db

PERSONS = "/admin/population/person/"
AUTOCOMPLETE = "/admin/autocomplete/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _x_number(born: dt.date) -> str:
    """A valid number ending in X (the check character an officer types in lower case)."""
    for sequence in range(1, 999, 2):
        number = build_citizen_id("441802", born, sequence)
        if number.endswith("X"):
            return number
    raise AssertionError("no X")


@pytest.fixture
def world(village, make_person):
    from population import services as population_services

    home = services.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路8号", region=village, actor=None
    )
    zhang = population_services.person_create(
        citizen_id=_x_number(dt.date(1990, 1, 1)), name="张三", actor=None, reason="测试"
    )
    services.move_in(
        citizen_id=zhang.citizen_id, name="张三", household=home, relation=Relation.HEAD,
        transfer_permit_number="QY1", on=dt.date(2020, 1, 1), actor=None,
    )  # fmt: skip
    namesake = make_person(name="张三", born=dt.date(1985, 5, 5), hukou_region=village)
    li = make_person(name="李秀英", male=False, born=dt.date(1970, 3, 3), hukou_region=village)
    county = village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    east = Region.objects.create(
        code="441802007001", name="东城一社区", level=RegionLevel.VILLAGE, parent=town
    )
    outsider = make_person(name="张三丰", born=dt.date(1990, 1, 1), hukou_region=east)
    return {
        "zhang": Person.objects.get(pk=zhang.pk),
        "namesake": namesake,
        "li": li,
        "outsider": outsider,
        "home": home,
    }


@pytest.fixture
def officer_client(client, django_user_model, village, assign_area):
    user = django_user_model.objects.create_user("officer", password="x-Pass-1", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    assign_area(user, village.parent)
    client.force_login(user)
    return client


def listed(client, url: str, term: str) -> set[str]:
    response = client.get(url, {"q": term})
    assert response.status_code == 200
    return {str(obj) for obj in response.context["cl"].result_list}


@pytest.mark.parametrize(
    "typed",
    [
        lambda n: n.lower(),
        lambda n: f"{n[:6]} {n[6:14]} {n[14:]}",
        lambda n: "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in n),
        lambda n: f"  {n.lower()}\u3000",
    ],
    ids=["lower-x", "spaces", "full-width", "ideographic-space"],
)
def test_a_number_as_typed_opens_the_person(officer_client, world, typed):
    zhang = world["zhang"]
    response = officer_client.get(PERSONS, {"q": typed(zhang.citizen_id)})
    assert (response.status_code, response["Location"]) == (302, f"{PERSONS}{zhang.pk}/change/")


def test_name_plus_birth_date_tells_namesakes_apart(officer_client, world):
    for term in ("张三 1990-01-01", "张三 19900101", "张三 1990年1月1日"):
        assert listed(officer_client, PERSONS, term) == {str(world["zhang"])}
    assert listed(officer_client, PERSONS, "张三 1985-05-05") == {str(world["namesake"])}
    assert listed(officer_client, PERSONS, "张三") == {str(world["zhang"]), str(world["namesake"])}


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("zhangsan", {"zhang", "namesake"}),
        ("Zhang San", {"zhang", "namesake"}),
        ("zhang s", {"zhang", "namesake"}),
        ("lixiuying", {"li"}),
        ("li xiu", {"li"}),
        ("wang", set()),
        ("qqq", set()),
    ],
)
def test_pinyin_finds_people_in_the_area_only(officer_client, world, term, who):
    # 张三丰 (outside the area) would match zhang s; the area keeps him out
    assert listed(officer_client, PERSONS, term) == {str(world[w]) for w in who}


def test_traditional_characters_find_a_simplified_name(officer_client, world):
    assert listed(officer_client, PERSONS, "張三") == {str(world["zhang"]), str(world["namesake"])}


def test_a_bad_number_says_why_in_chinese(officer_client, world):
    response = officer_client.get(PERSONS, {"q": "44180219900101001"}, follow=True)
    html = response.content.decode()
    assert "无法按身份号码查找：公民身份号码应为18位（旧号码15位），实际为17位" in html


def test_persons_read_as_name_and_masked_number(world):
    zhang = world["zhang"]
    assert str(zhang) == f"张三（{mask_citizen_id(zhang.citizen_id)}）"
    assert str(zhang.pk) not in str(zhang).replace(zhang.citizen_id[:6], "")


def autocomplete(client, term: str):
    return client.get(
        AUTOCOMPLETE,
        {"app_label": "registry", "model_name": "membership", "field_name": "person", "term": term},
    )


def test_the_autocomplete_serves_an_officer_by_id_name_date_and_pinyin(officer_client, world):
    zhang = world["zhang"]
    for term in (zhang.citizen_id.lower(), zhang.citizen_id[:10], "张三 1990-01-01"):
        response = autocomplete(officer_client, term)
        assert response.status_code == 200, term
        texts = [r["text"] for r in json.loads(response.content)["results"]]
        assert texts == [f"张三（{mask_citizen_id(zhang.citizen_id)}）"], term
    texts = {
        r["text"] for r in json.loads(autocomplete(officer_client, "zhang").content)["results"]
    }
    assert texts == {str(world["zhang"]), str(world["namesake"])}  # 张三丰 is outside the area
    # the full number never leaves in an autocomplete answer
    assert zhang.citizen_id not in autocomplete(officer_client, "张三").content.decode()


def test_every_autocomplete_answer_is_on_the_access_log(officer_client, world):
    from population.audit_labels import channel_label
    from population.models import AccessLog

    before = AccessLog.objects.count()
    last = AccessLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    answer = json.loads(autocomplete(officer_client, "zhang").content)["results"]
    assert len(answer) == 2
    entry = AccessLog.objects.get(pk__gt=last)
    assert entry.channel == "admin.person_autocomplete"
    assert entry.person_ids == sorted([world["zhang"].pk, world["namesake"].pk])
    assert entry.fields == ["name", "masked_citizen_id"]
    assert entry.username == "officer"
    assert channel_label(entry.channel) == "后台：人员查找（输入即查）"
    # An answer that shows nobody names nobody: no row.
    assert json.loads(autocomplete(officer_client, "nobody").content)["results"] == []
    assert AccessLog.objects.count() == before + 1


def test_the_autocomplete_refuses_a_role_that_may_not_read_persons(client, django_user_model):
    user = django_user_model.objects.create_user("stat", password="x-Pass-1", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.STATISTICIAN))
    client.force_login(user)
    assert autocomplete(client, "张三").status_code == 403


def test_households_are_found_by_a_members_number_or_name(officer_client, world):
    home = world["home"]
    url = "/admin/registry/household/"
    for term in (world["zhang"].citizen_id.lower(), "张三 1990-01-01", "zhangsan", home.number):
        assert listed(officer_client, url, term) == {str(home)}, term
    assert listed(officer_client, url, "李秀英") == set()  # not a member of any household


def test_members_are_found_by_number_name_or_household(officer_client, world):
    url = "/admin/registry/membership/"
    for term in (world["zhang"].citizen_id, "张三", world["home"].number):
        found = officer_client.get(url, {"q": term}).context["cl"].result_list
        assert [m.person_id for m in found] == [world["zhang"].pk], term
