"""Jurisdictions: an officer reaches only their area's records; breaking the glass is logged."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from population import roles
from population import services as population_services
from population.codes import Relation
from population.identity import build_citizen_id, mask_citizen_id
from population.jurisdiction import Area, area_of, persons_within
from population.models import (
    AccessLog,
    BreakGlassGrant,
    CitizenIdCorrection,
    Person,
    Region,
    RegionLevel,
)
from registry import services
from registry.models import Household, HouseholdKind, Membership, RegistrationEvent

pytestmark = pytest.mark.django_db

PERSONS = "/admin/population/person/"
HOUSEHOLDS = "/admin/registry/household/"
MEMBERSHIPS = "/admin/registry/membership/"
EVENTS = "/admin/registry/registrationevent/"
GRANTS = "/admin/population/breakglassgrant/"
BREAK_GLASS = "/admin/population/person/break-glass/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(village, make_person):
    """Two police stations' areas in 清城区 and a third county; residents of each.

    - ``here``: registered in a household of 凤城街道 (the officer's township)
    - ``lodger``: hukou in 东城街道, living in 凤城街道 (residence region inside)
    - ``moved``: in a 凤城街道 household, but hukou recorded elsewhere (open household inside)
    - ``there``: registered in 东城街道, the other township
    - ``far``: registered in 清新区, another county
    - ``nowhere``: recorded with no region at all
    """
    township = village.parent
    county = township.parent
    city = county.parent
    east = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    east_village = Region.objects.create(
        code="441802007001", name="东城第一社区", level=RegionLevel.VILLAGE, parent=east
    )
    qingxin = Region.objects.create(
        code="441803000000", name="清新区", level=RegionLevel.COUNTY, parent=city
    )
    qx_town = Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=qingxin
    )
    qx_village = Region.objects.create(
        code="441803100001", name="太和村", level=RegionLevel.VILLAGE, parent=qx_town
    )

    def household(region, address):
        return services.household_create(
            kind=HouseholdKind.FAMILY, address=address, region=region, actor=None
        )

    hh_here = household(village, "凤城路1号")
    hh_there = household(east_village, "东城路2号")
    hh_far = household(qx_village, "太和路3号")
    here = make_person(name="本辖区", hukou_region=None)
    services.move_in(
        citizen_id=here.citizen_id,
        name=here.name,
        household=hh_here,
        relation=Relation.HEAD,
        transfer_permit_number="QY1",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    there = make_person(name="外辖区", hukou_region=None)
    services.move_in(
        citizen_id=there.citizen_id,
        name=there.name,
        household=hh_there,
        relation=Relation.HEAD,
        transfer_permit_number="QY2",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    far = make_person(name="外区县", hukou_region=None)
    services.move_in(
        citizen_id=far.citizen_id,
        name=far.name,
        household=hh_far,
        relation=Relation.HEAD,
        transfer_permit_number="QY3",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    lodger = make_person(name="寄住人", hukou_region=east_village, residence_region=village)
    moved = make_person(name="户在本辖区", hukou_region=None)
    services.move_in(
        citizen_id=moved.citizen_id,
        name=moved.name,
        household=hh_here,
        relation=Relation.SON,
        transfer_permit_number="QY4",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    moved = population_services.person_update(
        person=Person.objects.get(pk=moved.pk),
        actor=None,
        reason="测试：户籍地记录有误",
        hukou_region=east_village,
    )
    nowhere = make_person(name="无区划", hukou_region=None)
    for p in (here, there, far):
        p.refresh_from_db()
    return SimpleNamespace(
        city=city,
        county=county,
        township=township,
        east=east,
        qingxin=qingxin,
        village=village,
        hh_here=hh_here,
        hh_there=hh_there,
        hh_far=hh_far,
        here=here,
        there=there,
        far=far,
        lodger=lodger,
        moved=moved,
        nowhere=nowhere,
    )


@pytest.fixture
def staff(django_user_model, assign_area):
    counter = iter(range(1, 100))

    def _make(role: str, *regions, superuser: bool = False):
        user = django_user_model.objects.create_user(
            f"u{next(counter)}", password="x-Strong-pass-1", is_staff=True, is_superuser=superuser
        )
        user.groups.add(Group.objects.get(name=role))
        assign_area(user, *regions)
        return django_user_model.objects.get(pk=user.pk)

    return _make


@pytest.fixture
def officer(staff, world):
    """A 凤城街道 station officer."""
    return staff(roles.REGISTRATION_OFFICER, world.township)


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def listed(response) -> set:
    assert response.status_code == 200
    return set(response.context["cl"].result_list)


def names(objs) -> set[str]:
    return {o.name for o in objs}


# -- the rule ------------------------------------------------------------------------------------


def test_an_area_keeps_only_the_widest_prefixes(staff, world):
    user = staff(roles.SUPERVISOR, world.township, world.village, world.east, world.qingxin)
    assert area_of(user) == Area(prefixes=("441802006", "441802007", "441803"))


def test_persons_inside_by_hukou_residence_or_open_household(officer, world):
    assert names(persons_within(officer)) == {"本辖区", "寄住人", "户在本辖区"}


def test_a_supervisor_of_the_county_sees_both_stations_but_not_the_other_county(staff, world):
    supervisor = staff(roles.SUPERVISOR, world.county)
    assert names(persons_within(supervisor)) == {"本辖区", "寄住人", "户在本辖区", "外辖区"}


def test_city_wide_staff_see_everyone_including_persons_with_no_region(staff, world):
    auditor = staff(roles.AUDITOR, world.city)
    assert persons_within(auditor).count() == Person.objects.count() == 6


def test_the_wide_and_narrow_query_shapes_agree(staff, world):
    from django.db.models import Q

    from population.jurisdiction import person_ids, person_q

    auditor = staff(roles.AUDITOR, world.city)
    area = area_of(auditor)
    assert area.unplaced  # a city-wide area takes the OR/EXISTS shape
    wide = set(Person.objects.filter(person_q(area)).values_list("pk", flat=True))
    narrow = set(Person.objects.filter(Q(pk__in=person_ids(area))).values_list("pk", flat=True))
    assert wide == narrow == set(Person.objects.values_list("pk", flat=True))
    # the open-household test holds in the wide shape too: a household in the city, the
    # person's recorded hukou and residence in another city
    other_city = Region.objects.create(code="441900000000", name="东莞市", level=RegionLevel.CITY)
    population_services.person_update(
        person=Person.objects.get(pk=world.moved.pk),
        actor=None,
        reason="测试",
        hukou_region=other_city,
    )
    assert world.moved.pk in set(Person.objects.filter(person_q(area)).values_list("pk", flat=True))
    assert world.moved.pk in set(
        Person.objects.filter(Q(pk__in=person_ids(area))).values_list("pk", flat=True)
    )


def test_a_superuser_sees_all_and_staff_without_a_region_see_nothing(staff, world):
    assert persons_within(staff(roles.SUPERVISOR, superuser=True)).count() == 6
    assert persons_within(staff(roles.REGISTRATION_OFFICER)).count() == 0


# -- an officer cannot reach another area ----------------------------------------------------


def test_the_person_list_shows_only_the_area(officer_client, world):
    assert names(listed(officer_client.get(PERSONS))) == {"本辖区", "寄住人", "户在本辖区"}


@pytest.mark.parametrize("suffix", ["change/", "history/"], ids=["change", "history"])
def test_another_areas_person_is_not_found_by_url(officer_client, world, suffix):
    response = officer_client.get(f"{PERSONS}{world.there.pk}/{suffix}")
    # Django's admin answers a record it cannot find with a redirect to the index (or 404)
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response["Location"] == "/admin/"
    assert world.there.name not in officer_client.get("/admin/").content.decode()
    assert not AccessLog.objects.filter(person_ids__contains=[world.there.pk]).exists()


def test_a_change_posted_to_another_areas_person_changes_nothing(officer_client, world):
    response = officer_client.post(
        f"{PERSONS}{world.there.pk}/change/",
        {"name": "改名", "ethnicity": "01", "reason": "测试"},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    world.there.refresh_from_db()
    assert world.there.name == "外辖区"


def test_an_exact_id_search_outside_the_area_says_not_found_without_redirecting_to_it(
    officer_client, world
):
    response = officer_client.get(PERSONS, {"q": world.there.citizen_id}, follow=True)
    assert response.redirect_chain == [(PERSONS, 302)]
    html = response.content.decode()
    assert f"在您的辖区内未找到公民身份号码为{mask_citizen_id(world.there.citizen_id)}" in html
    # the same words as for a number nobody holds: the search does not tell where people live
    unknown = build_citizen_id("441802", dt.date(1971, 1, 1), 7)
    other = officer_client.get(PERSONS, {"q": unknown}, follow=True).content.decode()
    assert f"在您的辖区内未找到公民身份号码为{mask_citizen_id(unknown)}" in other


def test_an_id_search_inside_the_area_opens_the_record(officer_client, world):
    response = officer_client.get(PERSONS, {"q": world.lodger.citizen_id})
    assert (response.status_code, response["Location"]) == (
        302,
        f"{PERSONS}{world.lodger.pk}/change/",
    )


def test_a_former_number_of_another_areas_person_finds_nothing(officer_client, world):
    old = world.there.citizen_id
    population_services.person_correct_citizen_id(
        person=world.there,
        new_citizen_id=build_citizen_id("441802", dt.date(1990, 2, 2), 9),
        reason="重号",
        document_number="",
        actor=None,
    )
    assert CitizenIdCorrection.objects.filter(old_citizen_id=old).exists()
    response = officer_client.get(PERSONS, {"q": old})
    assert (response.status_code, response["Location"]) == (302, PERSONS)


def test_a_name_search_finds_only_the_area(officer_client, world):
    assert listed(officer_client.get(PERSONS, {"q": "外"})) == set()
    assert names(listed(officer_client.get(PERSONS, {"q": "本"}))) == {"本辖区"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"county": "441803"}, set()),
        ({"county": "441802"}, {"本辖区", "寄住人", "户在本辖区"}),
        ({"registered": "no"}, set()),
        ({"status__exact": "active"}, {"本辖区", "寄住人", "户在本辖区"}),
    ],
)
def test_list_filters_never_widen_the_area(officer_client, world, params, expected):
    assert names(listed(officer_client.get(PERSONS, params))) == expected


def test_the_county_filter_offers_only_counties_of_the_area(officer_client, world):
    response = officer_client.get(PERSONS)
    choices = [
        c["display"]
        for spec in response.context["cl"].filter_specs
        for c in spec.choices(response.context["cl"])
        if spec.title == "户籍地（区县）"
    ]
    assert "清城区" in choices and "清新区" not in choices


def test_households_memberships_and_events_are_scoped(officer_client, world):
    assert {h.number for h in listed(officer_client.get(HOUSEHOLDS))} == {world.hh_here.number}
    assert {m.person.name for m in listed(officer_client.get(MEMBERSHIPS))} == {
        "本辖区",
        "户在本辖区",
    }
    assert {e.person.name for e in listed(officer_client.get(EVENTS))} == {
        "本辖区",
        "户在本辖区",
    }
    outside_membership = Membership.objects.get(person=world.there)
    outside_event = RegistrationEvent.objects.get(person=world.there)
    for url in (
        f"{HOUSEHOLDS}{world.hh_there.pk}/change/",
        f"{HOUSEHOLDS}{world.hh_there.pk}/history/",
        f"{MEMBERSHIPS}{outside_membership.pk}/change/",
        f"{EVENTS}{outside_event.pk}/change/",
    ):
        response = officer_client.get(url)
        assert (response.status_code, response["Location"]) == (302, "/admin/"), url


def test_a_household_number_search_outside_the_area_finds_nothing(officer_client, world):
    assert listed(officer_client.get(HOUSEHOLDS, {"q": world.hh_there.number})) == set()


def test_an_officer_cannot_put_a_person_into_another_area(officer_client, world):
    before = Person.objects.count()
    response = officer_client.post(
        f"{PERSONS}add/",
        {
            "citizen_id": build_citizen_id("441802", dt.date(1999, 9, 9), 11),
            "name": "新人",
            "ethnicity": "01",
            "hukou_region": "441803100001",
            "reason": "测试",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["hukou_region"] == [
        "户籍地“太和村”不在您的辖区内"
    ]
    assert Person.objects.count() == before


def test_a_supervisor_sees_wider_by_url(client, staff, world):
    supervisor = staff(roles.SUPERVISOR, world.county)
    client.force_login(supervisor)
    assert client.get(f"{PERSONS}{world.there.pk}/change/").status_code == 200
    assert client.get(f"{HOUSEHOLDS}{world.hh_there.pk}/change/").status_code == 200
    assert client.get(f"{PERSONS}{world.far.pk}/change/").status_code == 302


# -- breaking the glass ----------------------------------------------------------------------


def test_break_glass_grants_time_limited_access_and_logs_it(officer_client, officer, world):
    # when the officer states a reason for reaching a person of another station
    response = officer_client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "窗口办理迁入核对户籍"}
    )
    # then they get to that person's page, and only that person
    assert (response.status_code, response["Location"]) == (
        302,
        f"{PERSONS}{world.there.pk}/change/",
    )
    grant = BreakGlassGrant.objects.get()
    assert (grant.user, grant.person, grant.reason) == (
        officer,
        world.there,
        "窗口办理迁入核对户籍",
    )
    assert grant.expires_at - grant.granted_at == dt.timedelta(hours=2)
    assert officer_client.get(f"{PERSONS}{world.there.pk}/change/").status_code == 200
    assert officer_client.get(f"{PERSONS}{world.far.pk}/change/").status_code == 302
    assert names(listed(officer_client.get(PERSONS))) == {
        "本辖区",
        "寄住人",
        "户在本辖区",
        "外辖区",
    }
    # and the grant and the access under it are in the access log, naming the grant
    logged = AccessLog.objects.filter(channel="break_glass").order_by("id")
    assert [(e.person_ids, e.purpose) for e in logged] == [
        ([world.there.pk], f"跨辖区查询授权#{grant.pk}：窗口办理迁入核对户籍"),
        ([world.there.pk], f"跨辖区查询授权#{grant.pk}：窗口办理迁入核对户籍"),
    ]
    assert logged[0].fields == ["grant"] and "name" in logged[1].fields
    # the household stays out of reach: the grant covers the person only
    assert officer_client.get(f"{HOUSEHOLDS}{world.hh_there.pk}/change/").status_code == 302


def test_break_glass_expires(officer_client, officer, world, monkeypatch, settings):
    # A grant shorter than the idle-session limit, so the officer is still signed in when it
    # has lapsed (a 2-hour jump would end the session itself).
    settings.BREAK_GLASS_HOURS = 0.25
    officer_client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "窗口办理迁入核对户籍"}
    )
    assert officer_client.get(f"{PERSONS}{world.there.pk}/change/").status_code == 200
    later = timezone.now() + dt.timedelta(minutes=15, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    response = officer_client.get(f"{PERSONS}{world.there.pk}/change/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")


def test_break_glass_hours_is_a_setting(officer_client, world, settings):
    settings.BREAK_GLASS_HOURS = 0.5
    officer_client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "夜间窗口核对"}
    )
    grant = BreakGlassGrant.objects.get()
    assert grant.expires_at - grant.granted_at == dt.timedelta(minutes=30)


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"reason": "查"}, "reason", "须说明跨辖区查询的事由（至少4个字）"),
        ({"reason": ""}, "reason", "该字段是必填项。"),
        ({"citizen_id": "441802199001010000"}, "citizen_id", None),
        (
            {"citizen_id": build_citizen_id("441802", dt.date(1966, 6, 6), 3)},
            "citizen_id",
            "未找到该公民身份号码的人员",
        ),
    ],
    ids=["short-reason", "no-reason", "bad-check-digit", "unknown-number"],
)
def test_break_glass_refuses_bad_input_and_grants_nothing(
    officer_client, world, data, field, error
):
    response = officer_client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "窗口办理迁入", **data}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert errors and (error is None or errors == [error])
    assert not BreakGlassGrant.objects.exists()
    logged = list(AccessLog.objects.filter(channel="break_glass"))
    if error == "未找到该公民身份号码的人员":
        # probing a number that nobody holds is logged, with the number masked
        [entry] = logged
        masked = mask_citizen_id(data["citizen_id"])
        assert (entry.person_ids, entry.purpose) == (
            [],
            f"跨辖区查询（未找到{masked}）：窗口办理迁入",
        )
    else:
        assert logged == []


def test_break_glass_for_a_person_inside_needs_no_grant(officer_client, world):
    response = officer_client.post(
        BREAK_GLASS, {"citizen_id": world.here.citizen_id, "reason": "窗口办理业务"}
    )
    assert response["Location"] == f"{PERSONS}{world.here.pk}/change/"
    assert not BreakGlassGrant.objects.exists()


def test_a_statistician_cannot_break_the_glass(client, staff, world):
    client.force_login(staff(roles.STATISTICIAN, world.township))
    response = client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "统计核对数据"}
    )
    assert response.status_code == 403
    assert not BreakGlassGrant.objects.exists()


def test_grants_are_listed_for_supervisors_of_either_area(client, officer_client, staff, world):
    officer_client.post(
        BREAK_GLASS, {"citizen_id": world.there.citizen_id, "reason": "窗口办理迁入核对户籍"}
    )
    officer_client.get(f"{PERSONS}{world.there.pk}/change/")
    grant = BreakGlassGrant.objects.get()

    # the officer cannot read the grant list
    assert officer_client.get(GRANTS).status_code == 403
    # a supervisor of the person's township and one of the officer's township see the grant
    for area in (world.east, world.township):
        client.force_login(staff(roles.SUPERVISOR, area))
        response = client.get(GRANTS)
        assert list(response.context["cl"].result_list) == [grant]
        assert "窗口办理迁入核对户籍" in response.content.decode()
        detail = client.get(f"{GRANTS}{grant.pk}/change/")
        assert detail.status_code == 200 and world.there.name in detail.content.decode()
    # the list counts the grant itself and the one page view under it
    assert response.context["cl"].model_admin.accesses(grant) == 2
    # a supervisor of another county does not
    client.force_login(staff(roles.SUPERVISOR, world.qingxin))
    assert list(client.get(GRANTS).context["cl"].result_list) == []


def test_grants_are_append_only(officer, world):
    from django.db import DatabaseError, transaction

    grant = BreakGlassGrant.objects.create(
        user=officer,
        person=world.there,
        reason="测试",
        granted_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        BreakGlassGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now())
    with pytest.raises(DatabaseError), transaction.atomic():
        BreakGlassGrant.objects.filter(pk=grant.pk).delete()


def test_household_collective_kinds_are_scoped_like_any_household(officer_client, world):
    public = services.household_create(
        kind=HouseholdKind.PUBLIC_COLLECTIVE,
        address="太和社区集体户",
        region=Region.objects.get(code="441803100001"),
        actor=None,
    )
    assert public not in listed(officer_client.get(HOUSEHOLDS))
    assert Household.objects.filter(pk=public.pk).exists()


@pytest.mark.parametrize("url", [PERSONS, HOUSEHOLDS, MEMBERSHIPS, EVENTS])
def test_a_forged_bulk_action_on_another_areas_rows_does_nothing(officer_client, world, url):
    # the officer's lists offer no bulk action at all (rows are never deleted) ...
    response = officer_client.get(url)
    assert response.context["action_form"] is None
    # ... and a forged one naming another area's rows is ignored
    targets = {
        PERSONS: world.there.pk,
        HOUSEHOLDS: world.hh_there.pk,
        MEMBERSHIPS: Membership.objects.get(person=world.there).pk,
        EVENTS: RegistrationEvent.objects.get(person=world.there).pk,
    }
    before = (
        Person.objects.count(),
        Household.objects.count(),
        Membership.objects.count(),
        RegistrationEvent.objects.count(),
    )
    response = officer_client.post(
        url,
        {
            "action": "delete_selected",
            "_selected_action": [targets[url]],
            "index": 0,
            "post": "yes",
        },
    )
    assert response.status_code in (200, 302)
    assert world.there.name not in response.content.decode()
    assert before == (
        Person.objects.count(),
        Household.objects.count(),
        Membership.objects.count(),
        RegistrationEvent.objects.count(),
    )
