"""Area-scoped admin lists at scale (issue 19): the walking shape of the area rule selects the
same persons as the union shape, and scoped lists count exactly only up to
``ADMIN_EXACT_COUNT_LIMIT``."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from population import jurisdiction
from population import services as population_services
from population.admin_utils import CappedCountPaginator
from population.codes import Relation
from population.jurisdiction import Area, area_of, person_list_q, person_q
from population.models import BreakGlassGrant, Person
from registry import services as registry
from tests.population.area_world import citizen_id, staff

LIST_URL = reverse("admin:population_person_changelist")


def _ids(q) -> set[int]:
    return set(Person.objects.filter(q).values_list("pk", flat=True))


@pytest.fixture
def edges(world):
    """Persons at the edges of the rule: a household member living in township B, a person of
    township B granted to officer A, and a person placed nowhere."""
    member = registry.move_in(citizen_id=citizen_id(), name="周成员", household=world.household2,
                              relation=Relation.SON, transfer_permit_number="T-9",
                              on=dt.date(2021, 1, 1), actor=None)  # fmt: skip
    Person.objects.filter(pk=member.pk).update(
        hukou_region=world.village_b, residence_region=world.village_b
    )
    outsider = population_services.person_create(
        citizen_id=citizen_id(), name="吴外辖", hukou_region=world.village_b, actor=None,
        reason="测试",
    )  # fmt: skip
    unplaced = population_services.person_create(
        citizen_id=citizen_id(address="110101"), name="郑无籍", actor=None, reason="测试"
    )
    BreakGlassGrant.objects.create(
        user=world.officer_a, person=outsider, reason="核对户籍",
        granted_at=world.grant.granted_at, expires_at=world.grant.expires_at,
    )  # fmt: skip
    return member, outsider, unplaced


def _areas(world):
    county = world.township_a.parent
    return {
        # A fresh user: the world's object cached its area before the grant.
        "township A with a grant": area_of(type(world.officer_a).objects.get(username="officer_a")),
        "township B": area_of(world.officer_b),
        "village": area_of(staff("village_only", world.village)),
        "county": area_of(staff("county_only", county)),
        "city": area_of(staff("city_only", county.parent)),
        "no region": Area(),
    }


def test_walk_shape_selects_the_same_persons(world, edges):
    member, outsider, unplaced = edges
    areas = _areas(world)
    for label, area in areas.items():
        for grants in (True, False):
            narrow = _ids(person_q(area, grants=grants))
            assert _ids(person_q(area, grants=grants, walk=True)) == narrow, (label, grants)
        assert _ids(person_list_q(area)) == _ids(person_q(area)), label
    # The sets compared are not trivial: the edges fall where the rule says.
    officer_a = _ids(person_q(areas["township A with a grant"], walk=True))
    assert {member.pk, outsider.pk, world.head.pk} <= officer_a
    assert unplaced.pk not in officer_a
    assert outsider.pk not in _ids(person_q(areas["township A with a grant"], grants=False))
    assert member.pk in _ids(person_q(areas["township B"], walk=True))  # lives there
    assert outsider.pk in _ids(person_q(areas["township B"], walk=True))
    assert world.head.pk not in _ids(person_q(areas["township B"], walk=True))
    assert unplaced.pk not in _ids(person_q(areas["county"], walk=True))
    assert unplaced.pk in _ids(person_q(areas["city"], walk=True))
    assert _ids(person_q(areas["no region"], walk=True)) == set()


def test_list_shape_walks_only_for_a_big_area(world, monkeypatch):
    area = area_of(world.officer_a)
    assert "UNION" in str(Person.objects.filter(person_list_q(area)).query)
    monkeypatch.setattr(jurisdiction, "LIST_WALK_FROM", 1)
    walked = Person.objects.filter(person_list_q(area))
    assert "UNION" not in str(walked.query)
    assert set(walked.values_list("pk", flat=True)) == _ids(person_q(area))


def _list(user, **params):
    client = Client()
    client.force_login(user)
    return client.get(LIST_URL, params)


def _paginator_text(response) -> str:
    found = re.search(r'<p class="paginator">(.*?)</p>', response.content.decode(), re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_under_the_cap_the_count_is_exact(world, settings):
    settings.ADMIN_EXACT_COUNT_LIMIT = 10_000
    response = _list(world.officer_a)
    cl = response.context["cl"]
    expected = len(_ids(person_q(area_of(world.officer_a))))
    assert expected > 3
    assert isinstance(cl.paginator, CappedCountPaginator)
    assert not cl.paginator.capped
    assert cl.result_count == expected
    assert _paginator_text(response) == f"{expected} 人员"


def test_over_the_cap_the_list_says_so_and_pages_up_to_it(world, settings, monkeypatch):
    person_admin = admin.site._registry[Person]
    monkeypatch.setattr(person_admin, "list_per_page", 2)
    settings.ADMIN_EXACT_COUNT_LIMIT = 3
    inside = sorted(_ids(person_q(area_of(world.officer_a))), reverse=True)
    assert len(inside) > 3

    response = _list(world.officer_a)
    cl = response.context["cl"]
    assert cl.paginator.capped and cl.result_count == 3
    text = _paginator_text(response)
    assert "超过 3 条人员记录，请用搜索或筛选缩小范围" in text
    assert str(len(inside)) not in text
    assert "条结果" not in response.content.decode()  # the search bar shows no count
    assert [p.pk for p in cl.result_list] == inside[:2]
    assert 'href="?p=2"' in response.content.decode()  # pages up to the cap's: 2 of 2
    assert "?p=3" not in response.content.decode()
    assert [p.pk for p in _list(world.officer_a, p=2).context["cl"].result_list] == inside[2:3]
    # Past the cap's pages, and "show all", are refused rather than reading the whole area.
    past = _list(world.officer_a, p=3)
    assert past.status_code == 302 and "e=1" in past["Location"]
    show_all = _list(world.officer_a, all="")
    assert len(show_all.context["cl"].result_list) == 2
    assert "showall" not in show_all.content.decode()


def test_the_setting_is_respected(world, settings):
    inside = len(_ids(person_q(area_of(world.officer_a))))
    settings.ADMIN_EXACT_COUNT_LIMIT = inside
    assert _list(world.officer_a).context["cl"].result_count == inside
    settings.ADMIN_EXACT_COUNT_LIMIT = inside - 1
    response = _list(world.officer_a)
    assert response.context["cl"].paginator.capped
    assert f"超过 {inside - 1} 条人员记录" in _paginator_text(response)
    settings.ADMIN_EXACT_COUNT_LIMIT = 12_345
    assert CappedCountPaginator(Person.objects.none(), 50).cap_text == "12,345"


def test_a_filtered_list_of_a_superuser_is_capped_too(world, settings, django_user_model):
    settings.ADMIN_EXACT_COUNT_LIMIT = 1
    root = django_user_model.objects.create_superuser("root_list", password="pw-root")
    unfiltered = _list(root)
    assert not unfiltered.context["cl"].paginator.capped  # the estimate path, no WHERE
    filtered = _list(root, q="王")
    assert filtered.context["cl"].paginator.capped
