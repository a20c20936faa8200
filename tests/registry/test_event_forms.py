"""Registration events as admin forms: each does its event, refuses bad input field by field
without changing anything, is refused to users without the permission or outside the area."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.utils import timezone

from population import roles
from population.codes import Relation
from population.identity import (
    InvalidCitizenId,
    build_citizen_id,
    mask_citizen_id,
    parse_citizen_id,
)
from population.models import AccessLog, Person, PersonStatus, Region, RegionLevel
from registry import services
from registry.models import EventKind, Household, HouseholdKind, Membership, RegistrationEvent

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
TOMORROW = TODAY + dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def person_url(person, slug: str) -> str:
    return f"/admin/registry/registrationevent/person/{person.pk}/{slug}/"


def household_url(household, slug: str) -> str:
    return f"/admin/registry/household/{household.pk}/event/{slug}/"


def person_page(person) -> str:
    return f"/admin/population/person/{person.pk}/change/"


def household_page(household) -> str:
    return f"/admin/registry/household/{household.pk}/change/"


@pytest.fixture
def family(village, make_person):
    """A family household in 凤城街道 (head, wife, son), a second family, and a collective."""

    def household(kind=HouseholdKind.FAMILY, address="凤城路1号", region=village):
        return services.household_create(kind=kind, address=address, region=region, actor=None)

    def settle(name, hh, relation, male=True, born=dt.date(1980, 1, 1)):
        person = make_person(name=name, male=male, born=born)
        services.move_in(
            citizen_id=person.citizen_id,
            name=name,
            household=hh,
            relation=relation,
            transfer_permit_number="QY1",
            on=dt.date(2020, 1, 1),
            actor=None,
        )
        return Person.objects.get(pk=person.pk)

    home = household()
    head = settle("王大", home, Relation.HEAD)
    wife = settle("李二", home, Relation.WIFE, male=False)
    son = settle("王小", home, Relation.SON, born=dt.date(2005, 6, 1))
    other = household(address="凤城路9号")
    other_head = settle("陈户主", other, Relation.HEAD, born=dt.date(1950, 3, 3))
    collective = household(kind=HouseholdKind.PUBLIC_COLLECTIVE, address="凤城社区集体户")
    empty = household(address="凤城路11号")
    return SimpleNamespace(
        home=home,
        head=head,
        wife=wife,
        son=son,
        other=other,
        other_head=other_head,
        collective=collective,
        empty=empty,
        village=village,
    )


@pytest.fixture
def staff(django_user_model, assign_area):
    counter = iter(range(1, 100))

    def _make(role, *regions, perms=()):
        user = django_user_model.objects.create_user(
            f"s{next(counter)}", password="x-Strong-pass-1", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        assign_area(user, *regions)
        return django_user_model.objects.get(pk=user.pk)

    return _make


@pytest.fixture
def officer(staff, family):
    return staff(roles.REGISTRATION_OFFICER, family.village.parent)


@pytest.fixture
def officer_client(client, officer):
    client.force_login(officer)
    return client


def state() -> tuple:
    """Everything an event could change."""
    return (
        list(
            Membership.objects.order_by("pk").values_list(
                "person_id", "household_id", "relation", "end_date"
            )
        ),
        list(Person.objects.order_by("pk").values_list("pk", "status", "hukou_region_id")),
        list(Household.objects.order_by("pk").values_list("pk", "closed_on")),
        RegistrationEvent.objects.count(),
    )


def refused(client, url: str, data: dict) -> dict:
    """Post bad input: the form comes back (200) with its errors, and nothing changed."""
    before = state()
    response = client.post(url, data)
    assert response.status_code == 200
    assert state() == before
    form = response.context["form"]
    return {k: list(v) for k, v in form.errors.items()}


def done(response, back: str) -> str:
    assert (response.status_code, response["Location"]) == (302, back)
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


# -- death -------------------------------------------------------------------------------------


def death_data(family, **kw):
    return {
        "on": TODAY.isoformat(),
        "document_number": "SW2026001",
        "reason": "死亡注销",
        "seen_household": family.home.pk,
        **kw,
    }


def test_death_form_cancels_the_person(officer_client, officer, family):
    response = officer_client.post(person_url(family.son, "death"), death_data(family))
    assert done(response, person_page(family.son)) == "已办理死亡注销"
    family.son.refresh_from_db()
    assert family.son.status == PersonStatus.DECEASED
    event = RegistrationEvent.objects.get(kind=EventKind.DEATH)
    assert (event.person, event.officer, event.document_number) == (
        family.son,
        officer,
        "SW2026001",
    )
    assert not Membership.objects.filter(person=family.son, end_date__isnull=True).exists()


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({"on": TOMORROW.isoformat()}, {"on": ["日期不能晚于今天"]}),
        ({"on": "2000-01-01"}, {"on": ["日期早于已有记录"]}),
        ({"on": "2024-02-30"}, {"on": ["输入一个有效的日期。"]}),
        ({"document_number": " "}, {"document_number": ["须提供死亡医学证明或殡葬证明编号"]}),
        ({"reason": ""}, {"reason": ["该字段是必填项。"]}),
    ],
    ids=["future", "before-birth", "no-such-date", "no-certificate", "no-reason"],
)
def test_death_form_refuses_bad_input(officer_client, family, bad, errors):
    assert refused(officer_client, person_url(family.son, "death"), death_data(family, **bad)) == (
        errors
    )


def test_death_of_a_deceased_person_is_refused_above_the_form(officer_client, family):
    services.death_cancel(person=family.son, death_date=TODAY, document_number="X", actor=None)
    errors = refused(officer_client, person_url(family.son, "death"), death_data(family))
    assert errors == {"__all__": ["人员已死亡或注销，不能办理户籍事项"]}


# -- move out ----------------------------------------------------------------------------------


def move_out_data(family, **kw):
    return {
        "destination": "湖南省长沙市",
        "on": TODAY.isoformat(),
        "reason": "迁出",
        "seen_household": family.home.pk,
        **kw,
    }


def test_move_out_form_issues_a_transfer_permit(officer_client, family):
    response = officer_client.post(person_url(family.son, "move_out"), move_out_data(family))
    event = RegistrationEvent.objects.get(kind=EventKind.MOVE_OUT)
    assert done(response, person_page(family.son)) == (
        f"已办理迁出，户口迁移证编号：{event.document_number}"
    )
    assert event.document_number.startswith(f"QC{TODAY:%Y}")
    family.son.refresh_from_db()
    assert family.son.hukou_region is None


@pytest.mark.parametrize(
    ("who", "bad", "errors"),
    [
        ("son", {"destination": "  "}, {"destination": ["须填写迁往地"]}),
        ("son", {"on": TOMORROW.isoformat()}, {"on": ["日期不能晚于今天"]}),
        ("head", {}, {"__all__": ["户主迁出前须先变更户主"]}),
        # the officer saw another household: someone moved the person meanwhile
        ("son", {"seen_household": "other"}, {"__all__": ["人员的户籍已被他人变更，请刷新后重试"]}),
    ],
    ids=["no-destination", "future", "head-with-members", "stale"],
)
def test_move_out_form_refuses_bad_input(officer_client, family, who, bad, errors):
    if bad.get("seen_household") == "other":
        bad["seen_household"] = family.other.pk
    url = person_url(getattr(family, who), "move_out")
    assert refused(officer_client, url, move_out_data(family, **bad)) == errors


# -- move within the city ------------------------------------------------------------------------


def move_data(family, target, **kw):
    return {
        "to_household": target.number,
        "relation": Relation.GRANDSON,
        "on": TODAY.isoformat(),
        "reason": "市内迁移",
        "seen_household": family.home.pk,
        **kw,
    }


def test_move_within_form_moves_the_person(officer_client, family):
    response = officer_client.post(
        person_url(family.son, "move_within"), move_data(family, family.other)
    )
    assert done(response, person_page(family.son)) == "已办理市内迁移"
    membership = Membership.objects.get(person=family.son, end_date__isnull=True)
    assert (membership.household, membership.relation) == (family.other, Relation.GRANDSON)
    assert RegistrationEvent.objects.filter(kind=EventKind.MOVE_WITHIN).count() == 1


def test_move_within_refuses_a_household_outside_the_area(officer_client, family):
    county = family.village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    east = Region.objects.create(
        code="441802007001", name="东城一社区", level=RegionLevel.VILLAGE, parent=town
    )
    outside = services.household_create(
        kind=HouseholdKind.FAMILY, address="东城路1号", region=east, actor=None
    )
    errors = refused(
        officer_client, person_url(family.son, "move_within"), move_data(family, outside)
    )
    assert errors == {"to_household": ["在您的辖区内未找到此户号"]}


@pytest.mark.parametrize(
    ("target", "bad", "errors"),
    [
        (
            "other",
            {"to_household": "441802999999999"},
            {"to_household": ["在您的辖区内未找到此户号"]},
        ),
        ("home", {}, {"to_household": ["迁入户与原户相同"]}),
        ("other", {"relation": Relation.HEAD}, {"relation": ["户{number}已有户主"]}),
        ("other", {"relation": "77"}, {"relation": ["选择一个有效的选项。 77 不在可用的选项中。"]}),
        ("other", {"on": "2019-01-01"}, {"on": ["日期早于已有记录"]}),
    ],
    ids=["unknown-number", "same-household", "second-head", "bad-relation", "before-joining"],
)
def test_move_within_form_refuses_bad_input(officer_client, family, target, bad, errors):
    household = getattr(family, target)
    errors = {k: [e.format(number=household.number) for e in v] for k, v in errors.items()}
    url = person_url(family.son, "move_within")
    assert refused(officer_client, url, move_data(family, household, **bad)) == errors


def test_move_within_into_a_closed_household_is_refused(officer_client, family):
    services.household_close(household=family.empty, actor=None, reason="测试")
    errors = refused(
        officer_client, person_url(family.son, "move_within"), move_data(family, family.empty)
    )
    assert errors == {"to_household": [f"户{family.empty.number}已销户"]}


# -- attach ------------------------------------------------------------------------------------


def test_attach_form_needs_and_records_the_owners_consent(officer_client, family):
    url = person_url(family.son, "attach")
    data = move_data(family, family.other, owner_consent_document="TY-7", reason="挂靠亲属户")
    assert done(officer_client.post(url, data), person_page(family.son)) == "已办理挂靠"
    event = RegistrationEvent.objects.get(kind=EventKind.ATTACH)
    assert (event.document_type, event.document_number) == ("户主同意证明", "TY-7")


@pytest.mark.parametrize(
    ("target", "bad", "errors"),
    [
        (
            "other",
            {"owner_consent_document": ""},
            {"owner_consent_document": ["挂靠须有房屋所有权人（户主）同意证明"]},
        ),
        ("collective", {}, {"to_household": ["只能挂靠到家庭户"]}),
        ("other", {"relation": Relation.NON_RELATIVE}, {"relation": ["挂靠人须为户主的亲属"]}),
    ],
    ids=["no-consent", "collective", "non-relative"],
)
def test_attach_form_refuses_bad_input(officer_client, family, target, bad, errors):
    data = {**move_data(family, getattr(family, target), owner_consent_document="TY-7"), **bad}
    assert refused(officer_client, person_url(family.son, "attach"), data) == errors


# -- collective --------------------------------------------------------------------------------


def test_collective_form_settles_into_the_collective(officer_client, family):
    data = {
        "to_household": family.collective.number,
        "on": TODAY.isoformat(),
        "reason": "集体户落户",
        "seen_household": family.home.pk,
    }
    response = officer_client.post(person_url(family.son, "collective"), data)
    assert done(response, person_page(family.son)) == "已办理集体户落户"
    membership = Membership.objects.get(person=family.son, end_date__isnull=True)
    assert (membership.household, membership.relation) == (
        family.collective,
        Relation.NON_RELATIVE,
    )


def test_collective_form_refuses_a_family_household(officer_client, family):
    data = {
        "to_household": family.other.number,
        "on": TODAY.isoformat(),
        "reason": "集体户落户",
        "seen_household": family.home.pk,
    }
    errors = refused(officer_client, person_url(family.son, "collective"), data)
    assert errors == {"to_household": ["目标户不是集体户"]}


# -- birth -------------------------------------------------------------------------------------


def birth_data(**kw):
    return {
        "name": "王宝宝",
        "sex": "2",
        "birth_date": (TODAY - dt.timedelta(days=3)).isoformat(),
        "ethnicity": "01",
        "relation": Relation.GRANDDAUGHTER,
        "birth_certificate_number": "O440000001",
        "reason": "出生登记",
        **kw,
    }


def test_birth_form_registers_the_newborn_with_a_new_id(officer_client, family):
    response = officer_client.post(household_url(family.home, "birth"), birth_data())
    baby = Person.objects.get(name="王宝宝")
    assert done(response, household_page(family.home)) == (
        f"已办理出生登记：王宝宝，公民身份号码{baby.citizen_id}"
    )
    parsed = parse_citizen_id(baby.citizen_id)
    assert (parsed.sex, parsed.birth_date, baby.citizen_id[:6]) == (
        2,
        TODAY - dt.timedelta(days=3),
        "441802",
    )
    assert Membership.objects.get(person=baby).household == family.home


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({"birth_date": TOMORROW.isoformat()}, {"birth_date": ["日期不能晚于今天"]}),
        (
            {"birth_certificate_number": ""},
            {"birth_certificate_number": ["须提供出生医学证明编号"]},
        ),
        ({"name": "  "}, {"name": ["该字段是必填项。"]}),
        ({"sex": "3"}, {"sex": ["选择一个有效的选项。 3 不在可用的选项中。"]}),
        (
            {"relation": Relation.HEAD},
            {"relation": ["户{number}已有成员，新生儿与户主关系不能为户主或本人"]},
        ),
        (
            {"relation": Relation.SELF},
            {"relation": ["户{number}已有成员，新生儿与户主关系不能为户主或本人"]},
        ),
        ({"relation": ""}, {"relation": ["该字段是必填项。"]}),
    ],
    ids=["future", "no-certificate", "no-name", "bad-sex", "head", "self", "no-relation"],
)
def test_birth_form_refuses_bad_input(officer_client, family, bad, errors):
    errors = {k: [e.format(number=family.home.number) for e in v] for k, v in errors.items()}
    assert refused(officer_client, household_url(family.home, "birth"), birth_data(**bad)) == errors


def test_birth_form_has_no_default_relation_and_iso_dates(officer_client, family):
    # given the birth form as the household page's button opens it
    form = officer_client.get(household_url(family.home, "birth")).context["form"]
    html = str(form)
    # then the relation must be chosen, and date inputs hold ISO dates <input type=date> takes
    assert form["relation"].value() in (None, "")
    assert 'value="01" selected' not in str(form["relation"])
    assert 'type="date"' in html
    death = officer_client.get(person_url(family.son, "death")).content.decode()
    assert f'type="date" name="on" value="{TODAY.isoformat()}"' in death


def test_birth_success_masks_the_new_number_for_a_role_without_full_ids(client, staff, family):
    user = staff(
        roles.REGISTRATION_OFFICER, family.village.parent, perms=("registry.add_registrationevent",)
    )
    # an officer of a role without the full-number permission
    user.groups.clear()
    for perm in ("registry.view_household", "registry.add_registrationevent"):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user = type(user).objects.get(pk=user.pk)
    client.force_login(user)
    response = client.post(household_url(family.home, "birth"), birth_data())
    baby = Person.objects.get(name="王宝宝")
    message = done(response, household_page(family.home))
    assert message == f"已办理出生登记：王宝宝，公民身份号码{mask_citizen_id(baby.citizen_id)}"
    assert baby.citizen_id not in message


# -- move in -----------------------------------------------------------------------------------


def move_in_data(**kw):
    return {
        "citizen_id": build_citizen_id("430102", dt.date(1992, 4, 4), 21),
        "name": "外来人",
        "ethnicity": "01",
        "relation": Relation.OTHER_RELATIVE,
        "transfer_permit_number": "QC2026000123",
        "on": TODAY.isoformat(),
        "reason": "迁入",
        **kw,
    }


def test_move_in_form_registers_someone_from_elsewhere(officer_client, family):
    response = officer_client.post(household_url(family.home, "move_in"), move_in_data())
    assert done(response, household_page(family.home)) == "已办理迁入"
    newcomer = Person.objects.get(name="外来人")
    assert newcomer.hukou_region == family.village
    event = RegistrationEvent.objects.get(kind=EventKind.MOVE_IN, person=newcomer)
    assert event.document_number == "QC2026000123"


def _parser_error(number: str) -> str:
    with pytest.raises(InvalidCitizenId) as caught:
        parse_citizen_id(number)
    return caught.value.message_zh


@pytest.mark.parametrize(
    ("bad", "field", "error"),
    [
        ({"citizen_id": "430102199204040210"}, "citizen_id", "parser"),
        ({"citizen_id": "son"}, "citizen_id", "此人已在本市登记户籍，应办理市内迁移"),
        ({"transfer_permit_number": ""}, "transfer_permit_number", "须提供户口迁移证编号"),
        ({"name": ""}, "name", "姓名不能为空"),
        ({"on": TOMORROW.isoformat()}, "on", "日期不能晚于今天"),
    ],
    ids=["bad-check-digit", "already-registered", "no-permit", "new-without-name", "future"],
)
def test_move_in_form_refuses_bad_input(officer_client, family, bad, field, error):
    if bad.get("citizen_id") == "son":
        bad["citizen_id"] = family.son.citizen_id
    if error == "parser":
        error = _parser_error(bad["citizen_id"])
    errors = refused(officer_client, household_url(family.home, "move_in"), move_in_data(**bad))
    assert errors == {field: [error]}


# -- head change -------------------------------------------------------------------------------


def test_head_change_form(officer_client, family):
    data = {
        "new_head": family.wife.pk,
        "former_head_relation": Relation.HUSBAND,
        "on": TODAY.isoformat(),
        "reason": "户主变更",
    }
    response = officer_client.post(household_url(family.home, "head_change"), data)
    assert done(response, household_page(family.home)) == "已变更户主"
    relations = dict(
        Membership.objects.filter(household=family.home, end_date__isnull=True).values_list(
            "person_id", "relation"
        )
    )
    assert relations == {
        family.wife.pk: Relation.HEAD,
        family.head.pk: Relation.HUSBAND,
        family.son.pk: Relation.SON,
    }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"new_head": "head"}, "new_head"),  # the head is not offered
        ({"new_head": "other_head"}, "new_head"),  # not a member
        ({"former_head_relation": Relation.HEAD}, "former_head_relation"),
        ({"former_head_relation": ""}, "former_head_relation"),
    ],
    ids=["already-head", "not-a-member", "former-stays-head", "no-relation"],
)
def test_head_change_form_refuses_bad_input(officer_client, family, bad, field):
    data = {
        "new_head": family.wife.pk,
        "former_head_relation": Relation.HUSBAND,
        "on": TODAY.isoformat(),
        "reason": "户主变更",
    }
    for key in ("new_head",):
        if bad.get(key) in ("head", "other_head"):
            bad[key] = getattr(family, bad[key]).pk
    errors = refused(officer_client, household_url(family.home, "head_change"), {**data, **bad})
    assert list(errors) == [field]
    assert errors[field][0].startswith("选择一个有效的选项") or errors[field] == [
        "该字段是必填项。"
    ]


# -- split -------------------------------------------------------------------------------------


def split_data(family, **members):
    data = {"address": "凤城路1号之一", "region": "", "on": TODAY.isoformat(), "reason": "分户"}
    for who, relation in members.items():
        data[f"member_{getattr(family, who).pk}"] = relation
    return data


def test_split_form_creates_a_household_headed_by_the_leaver(officer_client, family):
    response = officer_client.post(
        household_url(family.home, "split"), split_data(family, son=Relation.HEAD)
    )
    new = Household.objects.get(address="凤城路1号之一")
    assert done(response, household_page(family.home)) == f"已分户，新户号：{new.number}"
    membership = Membership.objects.get(person=family.son, end_date__isnull=True)
    assert (membership.household, membership.relation) == (new, Relation.HEAD)
    assert new.region == family.village


@pytest.mark.parametrize(
    ("members", "extra", "errors"),
    [
        ({}, {}, {"__all__": ["请为分出的成员选择与新户主的关系"]}),
        ({"son": Relation.SON}, {}, {"__all__": ["分出的成员中须有且只有一位新户主"]}),
        ({"head": Relation.HEAD}, {}, {"__all__": ["原户主随迁时须先变更户主"]}),
        (
            {"head": Relation.HEAD, "wife": Relation.WIFE, "son": Relation.SON},
            {},
            {"__all__": ["分户后原户须留有成员"]},
        ),
        ({"son": Relation.HEAD}, {"address": ""}, {"address": ["该字段是必填项。"]}),
        (
            {"son": Relation.HEAD},
            {"region": "441803100001"},
            {"region": ["区划代码应为12位村（居）级代码"]},
        ),
    ],
    ids=["nobody", "no-head", "head-leaves-others", "everyone", "no-address", "unknown-region"],
)
def test_split_form_refuses_bad_input(officer_client, family, members, extra, errors):
    data = {**split_data(family, **members), **extra}
    assert refused(officer_client, household_url(family.home, "split"), data) == errors


def test_split_into_a_region_outside_the_area_is_refused(officer_client, family):
    county = family.village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    Region.objects.create(
        code="441802007001", name="东城一社区", level=RegionLevel.VILLAGE, parent=town
    )
    data = {**split_data(family, son=Relation.HEAD), "region": "441802007001"}
    errors = refused(officer_client, household_url(family.home, "split"), data)
    assert errors == {"region": ["“东城一社区”不在您的辖区内"]}


# -- close and create --------------------------------------------------------------------------


def test_close_form_closes_an_empty_household(officer_client, family):
    data = {"on": TODAY.isoformat(), "reason": "户内无人"}
    response = officer_client.post(household_url(family.empty, "close"), data)
    assert done(response, household_page(family.empty)) == "已销户"
    family.empty.refresh_from_db()
    assert family.empty.closed_on == TODAY


def test_close_form_refuses_a_household_with_members(officer_client, family):
    data = {"on": TODAY.isoformat(), "reason": "销户"}
    errors = refused(officer_client, household_url(family.home, "close"), data)
    assert errors == {"__all__": ["户内仍有成员，不能销户"]}


def test_household_create_allocates_the_number(officer_client, officer, family):
    response = officer_client.post(
        "/admin/registry/household/add/",
        {
            "kind": HouseholdKind.FAMILY,
            "address": "凤城路20号",
            "region": family.village.pk,
            "reason": "新建住宅立户",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    household = Household.objects.get(address="凤城路20号")
    assert household.number == f"441802{household.pk:09d}"
    [event] = Household.pgh_event_model.objects.filter(pgh_obj=household)
    metadata = event.pgh_context.metadata
    assert (metadata["user"], metadata["reason"]) == (officer.pk, "新建住宅立户")


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        ({"region": "441802006000"}, {"region": ["户应登记在村（居）级区划"]}),
        ({"region": "441800000000"}, {"region": ["所在区划“清远市”不在您的辖区内"]}),
        ({"address": ""}, {"address": ["该字段是必填项。"]}),
    ],
    ids=["township", "outside", "no-address"],
)
def test_household_create_refuses_bad_input(officer_client, family, bad, errors):
    before = state()
    data = {
        "kind": HouseholdKind.FAMILY,
        "address": "凤城路20号",
        "region": family.village.pk,
        "reason": "立户",
        **bad,
    }
    response = officer_client.post("/admin/registry/household/add/", data)
    assert response.status_code == 200
    assert dict(response.context["adminform"].form.errors) == errors
    assert state() == before


# -- who may -----------------------------------------------------------------------------------


def all_event_urls(family) -> list[str]:
    return [
        *(person_url(family.son, s) for s in ("death", "move_out", "move_within", "attach")),
        person_url(family.son, "collective"),
        *(
            household_url(family.home, s)
            for s in ("birth", "move_in", "head_change", "split", "close")
        ),
    ]


@pytest.mark.parametrize("role", [roles.STATISTICIAN, roles.AUDITOR])
def test_users_without_the_event_permission_are_refused(client, staff, family, role):
    # a statistician even with read access to persons and households does no events
    user = staff(
        role,
        family.village.parent,
        perms=("population.view_person", "registry.view_household"),
    )
    client.force_login(user)
    before = state()
    for url in all_event_urls(family):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"reason": "x", "on": TODAY.isoformat()}).status_code == 403, url
    assert state() == before
    assert "死亡注销" not in client.get(person_page(family.son)).content.decode()
    assert "出生登记" not in client.get(household_page(family.home)).content.decode()


def test_an_officer_of_another_area_cannot_reach_the_forms(client, staff, family):
    county = family.village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    client.force_login(staff(roles.REGISTRATION_OFFICER, town))
    before = state()
    for url in all_event_urls(family):
        assert client.get(url).status_code == 404, url
        response = client.post(url, {**death_data(family), **birth_data(), "reason": "x"})
        assert response.status_code == 404, url
    assert state() == before


def test_a_grant_lets_an_officer_move_a_visitor_into_their_area(client, staff, family):
    # given an officer of 东城街道 with a household there, serving 王小 from 凤城街道
    county = family.village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    east = Region.objects.create(
        code="441802007001", name="东城一社区", level=RegionLevel.VILLAGE, parent=town
    )
    target = services.household_create(
        kind=HouseholdKind.FAMILY, address="东城路1号", region=east, actor=None
    )
    user = staff(roles.REGISTRATION_OFFICER, town)
    client.force_login(user)
    url = person_url(family.son, "move_within")
    assert client.get(url).status_code == 404
    # when they break the glass and then carry out the move
    client.post(
        "/admin/population/person/break-glass/",
        {"citizen_id": family.son.citizen_id, "reason": "窗口办理市内迁入"},
    )
    assert client.get(url).status_code == 200
    response = client.post(url, move_data(family, target, relation=Relation.HEAD))
    # then the person is in their household; the grant and the form's read were logged
    assert done(response, person_page(family.son)) == "已办理市内迁移"
    assert Membership.objects.get(person=family.son, end_date__isnull=True).household == target
    assert AccessLog.objects.filter(channel="break_glass", user_id=user.pk).count() == 2


# -- the household page and its print view -------------------------------------------------------


def object_tools(html: str) -> dict[str, str]:
    """The buttons of an admin page (its object tools): label -> href, as a browser sees them."""
    block = re.search(r'<ul class="object-tools">(.*?)</ul>', html, re.S)
    assert block, "the page has no object tools"
    return {
        label.strip(): href
        for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', block.group(1))
    }


def follow(client, page_url: str, label: str) -> str:
    """Open a page, take the button ``label`` and open its target like a browser: the form."""
    href = object_tools(client.get(page_url).content.decode())[label]
    assert href.startswith("/admin/"), href  # absolute: a relative link broke on change pages
    response = client.get(href)
    assert response.status_code == 200, href
    assert response.context["spec"].title == label
    return href


def open_members(household) -> dict[int, str]:
    return dict(
        Membership.objects.filter(household=household, end_date__isnull=True).values_list(
            "person_id", "relation"
        )
    )


def test_household_page_lists_members_like_a_household_book(officer_client, family):
    response = officer_client.get(household_page(family.home))
    inline = response.context["inline_admin_formsets"][0]
    assert [f.original.person.name for f in inline] == ["王大", "李二", "王小"]


HOUSEHOLD_BUTTONS = {
    "出生登记": (
        "home",
        lambda f: birth_data(),
        lambda f: (
            open_members(f.home)[Person.objects.get(name="王宝宝").pk] == Relation.GRANDDAUGHTER
        ),
    ),
    "迁入": (
        "home",
        lambda f: move_in_data(),
        lambda f: Person.objects.get(name="外来人").pk in open_members(f.home),
    ),
    "变更户主": (
        "home",
        lambda f: {
            "new_head": f.wife.pk,
            "former_head_relation": Relation.HUSBAND,
            "on": TODAY.isoformat(),
            "reason": "户主变更",
        },
        lambda f: open_members(f.home)[f.wife.pk] == Relation.HEAD,
    ),
    "分户": (
        "home",
        lambda f: split_data(f, son=Relation.HEAD),
        lambda f: (
            open_members(Household.objects.get(address="凤城路1号之一"))
            == {f.son.pk: Relation.HEAD}
        ),
    ),
    "销户": (
        "empty",
        lambda f: {"on": TODAY.isoformat(), "reason": "户内无人"},
        lambda f: Household.objects.get(pk=f.empty.pk).closed_on == TODAY,
    ),
}


@pytest.mark.parametrize("label", list(HOUSEHOLD_BUTTONS))
def test_household_page_buttons_open_their_forms_and_do_the_event(officer_client, family, label):
    which, data, outcome = HOUSEHOLD_BUTTONS[label]
    household = getattr(family, which)
    # given the household page; when the officer takes the button and submits its form
    href = follow(officer_client, household_page(household), label)
    response = officer_client.post(href, data(family))
    # then they are back on the household page and the event happened
    done(response, household_page(household))
    assert outcome(family)


PERSON_BUTTONS = {
    "死亡注销": (
        lambda f: death_data(f),
        lambda f: Person.objects.get(pk=f.son.pk).status == PersonStatus.DECEASED,
    ),
    "迁出": (
        lambda f: move_out_data(f),
        lambda f: Person.objects.get(pk=f.son.pk).hukou_region is None,
    ),
    "市内迁移": (
        lambda f: move_data(f, f.other),
        lambda f: open_members(f.other).get(f.son.pk) == Relation.GRANDSON,
    ),
    "挂靠亲属户": (
        lambda f: move_data(f, f.other, owner_consent_document="TY-7"),
        lambda f: RegistrationEvent.objects.filter(kind=EventKind.ATTACH, person=f.son).exists(),
    ),
    "集体户落户": (
        lambda f: {
            "to_household": f.collective.number,
            "on": TODAY.isoformat(),
            "reason": "集体户落户",
            "seen_household": f.home.pk,
        },
        lambda f: f.son.pk in open_members(f.collective),
    ),
}


@pytest.mark.parametrize("label", list(PERSON_BUTTONS))
def test_person_page_buttons_open_their_forms_and_do_the_event(officer_client, family, label):
    data, outcome = PERSON_BUTTONS[label]
    href = follow(officer_client, person_page(family.son), label)
    response = officer_client.post(href, data(family))
    done(response, person_page(family.son))
    assert outcome(family)


def test_household_page_print_button_opens_the_book(officer_client, family):
    href = object_tools(officer_client.get(household_page(family.home)).content.decode())[
        "打印户口簿"
    ]
    html = officer_client.get(href).content.decode()
    assert "户口簿" in html
    assert family.head.name in html


def form_rows(html: str) -> dict[str, str]:
    """Each form row's HTML by field name."""
    parts = html.split('<div class="form-row field-')[1:]
    return {re.match(r"[\w]+", part).group(0): part for part in parts}


def test_move_in_errors_sit_on_their_own_field(officer_client, family):
    # given a move-in without a date: the error is on the date row, not the permit's above it
    response = officer_client.post(household_url(family.home, "move_in"), move_in_data(on=""))
    rows = form_rows(response.content.decode())
    assert "迁入日期：该字段是必填项。" in rows["on"]
    assert "errorlist" not in rows["transfer_permit_number"]
    # and a missing permit on the permit's own row
    response = officer_client.post(
        household_url(family.home, "move_in"), move_in_data(transfer_permit_number="")
    )
    rows = form_rows(response.content.decode())
    assert "户口迁移证编号：须提供户口迁移证编号" in rows["transfer_permit_number"]
    assert "errorlist" not in rows["on"]


def test_print_view_shows_the_book_head_first_with_full_ids_for_officers(officer_client, family):
    response = officer_client.get(f"/admin/registry/household/{family.home.pk}/print/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "@media print" in html
    positions = [html.index(p.name) for p in (family.head, family.wife, family.son)]
    assert positions == sorted(positions)
    for person in (family.head, family.wife, family.son):
        assert person.citizen_id in html
    log = AccessLog.objects.get(channel="admin.household_print")
    assert log.person_ids == sorted([family.head.pk, family.wife.pk, family.son.pk])


def test_print_view_masks_ids_without_the_full_id_permission(client, staff, family):
    user = staff(roles.STATISTICIAN, family.village.parent, perms=("registry.view_household",))
    client.force_login(user)
    html = client.get(f"/admin/registry/household/{family.home.pk}/print/").content.decode()
    assert mask_citizen_id(family.head.citizen_id) in html
    assert family.head.citizen_id not in html


def test_print_view_of_another_area_is_not_found(client, staff, family):
    county = family.village.parent.parent
    town = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    client.force_login(staff(roles.REGISTRATION_OFFICER, town))
    assert client.get(f"/admin/registry/household/{family.home.pk}/print/").status_code == 404
    assert not AccessLog.objects.exists()
