"""窗口受理 and relations to the destination's head: the window service, the admin screen, and
completion into a household that already has a head (never stuck)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from population.errors import DomainError
from population.identity import build_citizen_id
from registry import services as registry
from registry.models import Household, HouseholdKind, Membership, RegistrationEvent
from settlement import services
from settlement.models import Application, ApplicationTransition, Status

from .conftest import ON

pytestmark = pytest.mark.django_db

HEAD_ID = build_citizen_id("441802", dt.date(1960, 2, 2), 11)
APPLICANT_ID = build_citizen_id("441802", dt.date(1988, 8, 8), 13)
CHILD_ID = build_citizen_id("441802", dt.date(2016, 6, 1), 32)
# 清远 四（五）: a registered home of the applicant's own in 清新区太平镇 (其他建制镇)
PROPERTY = {"owner": "applicant", "use": "residential", "area_m2": 90, "registered": True}
HOME = {"residence_region_code": "441803104", "properties": [PROPERTY]}


@pytest.fixture
def headed(village):
    """A family household whose head (张大) is registered."""
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路12号", region=village, actor=None
    )
    registry.move_in(
        citizen_id=HEAD_ID,
        name="张大",
        household=household,
        relation="02",
        transfer_permit_number="Q-9",
        on=dt.date(2020, 1, 1),
        actor=None,
    )
    return household


def _window(officers, household=None, **kw):
    args = {
        "city_code": "441800",
        "on": timezone.localdate(),
        "channel": "home_purchase",
        "target": "residence",
        "citizen_id": APPLICANT_ID,
        "name": "李四",
        "relation": "10",
        "materials": ["居民身份证", "房产证"],
        "evidence": HOME,
        "members": [
            {"citizen_id": CHILD_ID, "name": "李小", "kind": "unmarried_child", "relation": "20"}
        ],
        "household": household,
        "actor": officers["officer"],
    } | kw
    return services.application_window_open(**args)


def _to_permit(app, officers, **kw):
    app = services.application_accept(application=app, actor=officers["officer"])
    app = services.application_review_start(application=app, actor=officers["officer"])
    app = services.application_approve(application=app, actor=officers["chief"])
    return services.application_issue_permit(application=app, actor=officers["chief"], **kw)


def _state():
    return (
        Application.objects.count(),
        ApplicationTransition.objects.count(),
        Household.objects.count(),
        Membership.objects.count(),
        RegistrationEvent.objects.count(),
    )


def test_window_to_completion_into_a_household_with_a_head_uses_the_chosen_relations(
    qy_current, officers, headed
):
    app = _window(officers, headed)
    assert app.status == Status.SUBMITTED and app.household == headed
    submitted = app.transitions.get()
    assert submitted.details == {"materials": ["居民身份证", "房产证"]}
    assert submitted.officer == officers["officer"]
    app = _to_permit(app, officers)  # the household chosen at the window
    assert app.household == headed
    app = services.application_complete(application=app, actor=officers["officer"])
    assert app.status == Status.COMPLETED
    open_members = Membership.objects.filter(household=headed, end_date__isnull=True)
    assert sorted(open_members.values_list("person__citizen_id", "relation")) == sorted(
        [(HEAD_ID, "02"), (APPLICANT_ID, "10"), (CHILD_ID, "20")]
    )
    assert RegistrationEvent.objects.filter(document_number=app.permit_number).count() == 2


def test_an_old_application_naming_itself_head_is_refused_at_the_permit_then_corrected(
    qy_current, officers, headed
):
    """Before the window asked, relation defaulted to 户主; the permit step now names the
    problem and takes the relation instead of leaving the application stuck at completion."""
    app = services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=APPLICANT_ID,
        name="李四",
        evidence=HOME,
        actor=None,
    )
    app = services.application_submit(application=app, actor=None, on=ON)
    assert app.relation == "02"
    before = _state()
    with pytest.raises(services.RelationError) as exc:
        _to_permit(app, officers, household=headed)
    assert exc.value.code == "head_exists" and exc.value.citizen_id == APPLICANT_ID
    assert "已有户主张大" in exc.value.message_zh
    app.refresh_from_db()
    assert app.status == Status.APPROVED and app.permit_number == "" and app.relation == "02"
    assert _state()[2:] == before[2:]
    app = services.application_issue_permit(
        application=app, household=headed, actor=officers["chief"], relations={APPLICANT_ID: "10"}
    )
    app = services.application_complete(application=app, actor=officers["officer"])
    assert Membership.objects.get(person__citizen_id=APPLICANT_ID, end_date=None).relation == "10"


def test_a_head_arriving_after_the_permit_is_asked_about_at_completion(
    qy_current, officers, village
):
    empty = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路30号", region=village, actor=None
    )
    app = _window(officers, empty, relation="02", members=[])
    app = _to_permit(app, officers)
    registry.move_in(  # meanwhile someone became the head
        citizen_id=HEAD_ID,
        name="张大",
        household=empty,
        relation="02",
        transfer_permit_number="Q-10",
        on=timezone.localdate(),
        actor=None,
    )
    before = _state()
    with pytest.raises(services.RelationError) as exc:
        services.application_complete(application=app, actor=officers["officer"])
    assert exc.value.code == "head_exists"
    app.refresh_from_db()
    assert app.status == Status.PERMIT_ISSUED and _state() == before
    app = services.application_complete(
        application=app, actor=officers["officer"], relations={APPLICANT_ID: "70"}
    )
    assert app.status == Status.COMPLETED
    assert Membership.objects.get(person__citizen_id=APPLICANT_ID, end_date=None).relation == "70"


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"relation": "02"}, "head_exists"),  # a second head
        ({"relation": ""}, "bad_relation"),  # relation missing
        (
            {
                "members": [
                    {
                        "citizen_id": CHILD_ID,
                        "name": "李小",
                        "kind": "unmarried_child",
                        "relation": "02",
                    }
                ]
            },
            "bad_relation",
        ),
        ({"citizen_id": "441802198808081300"}, "invalid_citizen_id"),
        ({"on": timezone.localdate() + dt.timedelta(days=1)}, "future_date"),
        ({"materials": ["  "]}, "materials_required"),
        ({"channel": "points"}, "unknown_channel"),
    ],
)
def test_bad_window_input_is_refused_and_changes_nothing(qy_current, officers, headed, kw, code):
    before = _state()
    with pytest.raises(DomainError) as exc:
        _window(officers, headed, **kw)
    assert exc.value.code == code
    assert _state() == before


def test_a_refused_window_application_leaves_no_new_household_behind(qy_current, officers, village):
    before = _state()
    with pytest.raises(DomainError) as exc:
        _window(
            officers,
            relation="10",  # a new household has no head yet: the applicant must be it
            members=[],
            new_household={"kind": "family", "address": "新城路1号", "region": village},
        )
    assert exc.value.code == "head_required"
    assert _state() == before
    app = _window(
        officers,
        relation="02",
        members=[],
        new_household={"kind": "family", "address": "新城路1号", "region": village},
    )
    assert app.household.address == "新城路1号" and app.household.kind == HouseholdKind.FAMILY


def test_a_second_open_application_is_refused_in_words(qy_current, officers, headed):
    _window(officers, headed)
    with pytest.raises(DomainError) as exc:
        _window(officers, headed)
    assert exc.value.code == "already_open"


# -- the admin screen ------------------------------------------------------------------------


@pytest.fixture
def clerk(officers, assign_area, city):
    return assign_area(officers["officer"], city)


def _form(applicant, household, changes=None):
    data = {
        "city": "441800",
        "applicant": str(applicant.pk),
        "citizen_id": "",
        "name": "",
        "on": timezone.localdate().isoformat(),
        "channel": "home_purchase",
        "target": "residence",
        "fact_residence_region_code": "441802006001",
        "fact_properties": "listed",
        "fact_properties_1_owner": "applicant",
        "fact_properties_1_use": "residential",
        "fact_properties_1_area_m2": "90",
        "fact_properties_1_registered": "yes",
        "household": str(household.pk),
        "new_kind": "",
        "new_address": "",
        "new_region": "",
        "relation": "10",
        "materials": "居民身份证\n房产证",
        "members-TOTAL_FORMS": "3",
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "10",
    }
    for i in range(3):
        for f in ("person", "citizen_id", "name", "kind", "relation"):
            data[f"members-{i}-{f}"] = ""
    data.update(changes or {})
    return data


def _field_error(html: str, field: str) -> str:
    """The error text shown on a field's row ('' if none)."""
    match = re.search(
        rf'class="[^"]*field-{field}[^"]* errors"[^>]*>\s*'
        r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>',
        html,
        re.S,
    ) or re.search(
        rf'<td class="field-{field}"><ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S
    )
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


def test_the_window_is_the_add_page_and_the_index_links_to_it(client, clerk, qy_current):
    client.force_login(clerk)
    index = client.get(reverse("admin:index")).content.decode()
    add = reverse("admin:settlement_application_add")
    assert f'href="{add}"' in index
    html = client.get(add).content.decode()
    assert "落户窗口受理" in html and "清远市《" in html
    assert "购房和自建房入户（四（六））" in html or "购房和自建房入户" in html
    assert "本科" in html and "bachelor" not in html.split("<script")[0]


def test_the_window_registers_a_submitted_application(
    client, clerk, qy_current, headed, make_person
):
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8))
    client.force_login(clerk)
    data = _form(applicant, headed)
    data.update(
        {
            "members-0-citizen_id": CHILD_ID,
            "members-0-name": "李小",
            "members-0-kind": "unmarried_child",
            "members-0-relation": "20",
        }
    )
    response = client.post(reverse("admin:settlement_application_add"), data)
    app = Application.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:settlement_application_change", args=[app.pk])
    assert app.status == Status.SUBMITTED and app.citizen_id == applicant.citizen_id
    assert app.relation == "10" and app.household == headed
    assert app.evidence == HOME | {"residence_region_code": "441802006001"}
    assert list(app.members.values_list("citizen_id", "kind", "relation")) == [
        (CHILD_ID, "unmarried_child", "20")
    ]
    assert app.transitions.get().details == {"materials": ["居民身份证", "房产证"]}


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"relation": "02"}, "relation", "已有户主张大"),
        ({"relation": ""}, "relation", "请选择申请人与户主的关系"),
        ({"on": "2999-01-01"}, "on", "不能晚于今天"),
        ({"on": "2024/03/04"}, "on", "日期格式"),
        ({"materials": " \n "}, "materials", "请填写收到的申请材料"),
        (
            {"applicant": "", "citizen_id": "441802198808081300", "name": "李四"},
            "citizen_id",
            "校验",
        ),
        ({"applicant": ""}, "applicant", "请选择申请人"),
        ({"household": ""}, "household", "请选择迁入户"),
        ({"fact_sponsor_relation_code": "99"}, "fact_sponsor_relation_code", "有效"),
        ({"fact_sponsor_relation_code": "spouse"}, "fact_sponsor_relation_code", "有效"),
        ({"fact_hukou_urban_rural_code": "999"}, "fact_hukou_urban_rural_code", "有效"),
        ({"target": "public_collective"}, "target", "落户去向只能是合法稳定住所"),
        (
            {
                "members-0-citizen_id": CHILD_ID,
                "members-0-name": "李小",
                "members-0-kind": "unmarried_child",
                "members-0-relation": "",
            },
            "relation",
            "请选择与户主关系",
        ),
        (
            {"members-0-citizen_id": "12345", "members-0-name": "李小"},
            "citizen_id",
            "",
        ),
    ],
)
def test_bad_input_shows_a_chinese_error_on_its_field_and_changes_nothing(
    client, clerk, qy_current, headed, make_person, changes, field, text
):
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8))
    client.force_login(clerk)
    before = _state()
    response = client.post(
        reverse("admin:settlement_application_add"), _form(applicant, headed, changes)
    )
    assert response.status_code == 200
    html = response.content.decode()
    error = _field_error(html, field)
    assert error, html[html.find("errornote") - 200 : html.find("errornote") + 2000]
    assert text in error
    assert re.search(r"[\u4e00-\u9fff]", error)
    assert _state() == before


def test_the_live_panel_shows_facts_on_file_and_the_verdict_in_chinese(
    client, clerk, qy_current, make_person
):
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8))
    client.force_login(clerk)
    data = {
        "city": "441800",
        "applicant": str(applicant.pk),
        "channel": "graduate_college",
        "fact_degree": "bachelor",
        "fact_residence_region_code": "441802006001",
        "fact_properties": "listed",
        "fact_properties_1_owner": "spouse",
        "fact_properties_1_use": "residential",
        "fact_properties_1_area_m2": "88.5",
        "fact_properties_1_registered": "no",
        "fact_employment_region_code": "441802006001",
        "fact_employment_months": "8",
        "on": timezone.localdate().isoformat(),
    }
    html = client.post(reverse("admin:settlement_application_window_check"), data).content.decode()
    assert "档案中的事实" in html and "申请人年龄（周岁）" in html
    assert "大专以上学历毕业生（四（二））：✔ 符合" in html
    assert "文件原文：“（二）放宽大专以上学历毕业生入户条件。" in html
    assert "本科" in html and "中心城区" in html and "是" in html
    for word in ("bachelor", "central", "True", "graduate_college", "degree", "spouse"):
        assert word not in html
    data["fact_employment_months"] = "0"
    html = client.post(reverse("admin:settlement_application_window_check"), data).content.decode()
    assert "大专以上学历毕业生（四（二））：✘ 不符合" in html
    assert "不满足：在当地就业" in html and "还需查明" not in html


def test_the_permit_form_asks_the_relation_when_the_destination_has_a_head(
    client, officers, assign_area, city, qy_current, headed
):
    app = services.application_create(
        city_code="441800",
        on=ON,
        channel="home_purchase",
        target="residence",
        citizen_id=APPLICANT_ID,
        name="李四",
        evidence=HOME,
        actor=None,
    )
    app = services.application_submit(application=app, actor=None, on=ON)
    app = services.application_accept(application=app, actor=officers["officer"])
    app = services.application_review_start(application=app, actor=officers["officer"])
    app = services.application_approve(application=app, actor=officers["chief"])
    chief = assign_area(officers["chief"], city)
    client.force_login(chief)
    url = reverse("admin:settlement_application_act", args=[app.pk, "mark_permit_issued"])
    form = client.get(url).content.decode()
    assert "李四与户主关系" in form and "<select" in form
    assert form.count("<option") < 60  # households by autocomplete, not a list of all
    before = _state()
    html = client.post(url, {"household": str(headed.pk), "relation_0": "02"}).content.decode()
    assert "已有户主张大" in _field_error(html, "relation_0")
    app.refresh_from_db()
    assert app.status == Status.APPROVED and _state() == before
    response = client.post(url, {"household": str(headed.pk), "relation_0": "10"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == Status.PERMIT_ISSUED and app.relation == "10"


def test_the_window_says_so_when_no_rule_set_is_in_force(client, officers, assign_area, village):
    from population.models import Region, RegionLevel

    shaoguan = Region.objects.create(
        code="440200000000",
        name="韶关市",
        level=RegionLevel.CITY,
        parent=village.parent.parent.parent.parent,
    )
    clerk = assign_area(officers["officer"], shaoguan)  # 韶关's rules ended; no current copy
    client.force_login(clerk)
    html = client.get(reverse("admin:settlement_application_add")).content.decode()
    assert "今天没有生效的落户政策" in html
    assert Application.objects.count() == 0


def test_the_household_search_answers_with_heads_and_logs_them(client, clerk, headed):
    from population.models import AccessLog

    client.force_login(clerk)
    last = AccessLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    answer = client.get(
        reverse("admin:settlement_household_autocomplete"),
        {
            "term": headed.number,
            "app_label": "settlement",
            "model_name": "application",
            "field_name": "household",
        },
    )
    assert answer.status_code == 200
    texts = [r["text"] for r in answer.json()["results"]]
    assert len(texts) == 1 and "户主：张大" in texts[0]
    entry = AccessLog.objects.get(pk__gt=last)
    assert entry.channel == "admin.household_autocomplete"
    head = headed.memberships.get(relation="02").person_id  # 户主
    assert entry.person_ids == [head]


# -- 准予迁入证明 ------------------------------------------------------------------------------


def _certificate_button(client, app) -> str | None:
    page = client.get(reverse("admin:settlement_application_change", args=[app.pk]))
    assert page.status_code == 200
    found = re.search(r'<a href="([^"]+)"[^>]*>打印准予迁入证明</a>', page.content.decode())
    return found.group(1) if found else None


def test_the_admission_certificate_is_printed_from_the_application_once_signed(
    client, qy_current, officers, headed, city, assign_area
):
    from population.identity import mask_citizen_id
    from population.models import AccessLog

    app = _window(officers, headed)
    client.force_login(assign_area(officers["officer"], city))
    assert _certificate_button(client, app) is None  # not signed yet: nothing to print
    url = reverse("admin:settlement_application_admission_certificate", args=[app.pk])
    assert client.get(url).status_code == 404
    app = _to_permit(app, officers)

    href = _certificate_button(client, app)
    assert href == url
    before = AccessLog.objects.count()
    page = client.get(href)
    assert page.status_code == 200
    html = page.content.decode()
    for shown in (
        "准予迁入证明",
        app.permit_number,
        "李四",
        APPLICANT_ID,  # the officer may see full numbers
        "李小",
        CHILD_ID,
        headed.address,
        headed.number,
        "张大",  # the destination's head
        f"{app.permit_valid_until:%Y年%-m月%-d日}",
        "清远市公安局",
        "1988年8月8日",  # from the number: the applicant is not on file
    ):
        assert shown in html, shown
    for hidden in ("None", "True", "home_purchase", "unmarried_child"):
        assert hidden not in html, hidden
    entry = AccessLog.objects.order_by("-pk").first()
    assert AccessLog.objects.count() == before + 1
    assert entry.channel == "admin.print.admission_certificate"
    assert entry.user_id == officers["officer"].pk

    # Without the full-ID right the numbers are masked.
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_application"))
    client.force_login(assign_area(viewer, city))
    html = client.get(url).content.decode()
    assert mask_citizen_id(APPLICANT_ID) in html and APPLICANT_ID not in html


def test_the_admission_certificate_downloads_as_a_pdf(
    client, qy_current, officers, headed, city, assign_area
):
    from population.models import AccessLog
    from tests.pdf_checks import assert_print_pdf

    app = _to_permit(_window(officers, headed), officers)
    client.force_login(assign_area(officers["officer"], city))
    url = reverse("admin:settlement_application_admission_certificate", args=[app.pk])
    page = client.get(url).content.decode()
    assert 'href="?format=pdf"' in page and "下载 PDF" in page
    assert_print_pdf(
        client.get(f"{url}?format=pdf"),
        filename=f"准予迁入证明_{app.permit_number}.pdf",
        shown=["准予迁入证明", app.permit_number, "李四", APPLICANT_ID, "李小", "张大"],
    )
    entry = AccessLog.objects.order_by("-pk").first()
    assert entry.channel == "admin.print.admission_certificate.pdf"
    assert entry.user_id == officers["officer"].pk


def test_the_admission_certificate_follows_the_area_rule(
    client, qy_current, officers, headed, village, assign_area
):
    from django.contrib.auth.models import Group, User

    from population import roles
    from population.models import Region, RegionLevel

    app = _to_permit(_window(officers, headed), officers)
    elsewhere = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    outsider = User.objects.create_user("outsider", is_staff=True)
    outsider.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    client.force_login(assign_area(outsider, elsewhere))
    url = reverse("admin:settlement_application_admission_certificate", args=[app.pk])
    assert client.get(url).status_code == 404
    from population.models import AccessLog

    before = AccessLog.objects.count()
    refused = client.get(f"{url}?format=pdf")
    assert refused.status_code == 404 and "页面不存在" in refused.content.decode()
    assert AccessLog.objects.count() == before


# -- the destination's and the hukou's urban-rural codes come from the register ---------------
SPOUSE_ID = build_citizen_id("441802", dt.date(1985, 5, 5), 21)
TO_SPOUSE = {
    "channel": "rural_spouse",
    "fact_sponsor_relation_code": "10",
    "fact_sponsor_hukou_in_city": "yes",
    "fact_lives_with_sponsor": "yes",
    "fact_urban_side_stable_job": "yes",
    "fact_village_two_thirds_consent": "yes",
    "fact_village_committee_consent": "yes",
    "fact_residence_region_code": "",
    "fact_properties": "",
    "fact_properties_1_owner": "",
    "fact_properties_1_use": "",
    "fact_properties_1_area_m2": "",
    "fact_properties_1_registered": "",
}


@pytest.fixture
def rural_home(village):
    """``village`` classified 111 主城区, a second unit 220 村庄 with a family household whose
    head (the applicant's wife) is registered."""
    from population.models import Region, RegionLevel, RegionUrbanRural

    RegionUrbanRural.objects.create(region=village, year=2023, code="111")
    hamlet = Region.objects.create(
        code="441802006201", name="新村村委会", level=RegionLevel.VILLAGE, parent=village.parent
    )
    RegionUrbanRural.objects.create(region=hamlet, year=2022, code="121")  # since reclassified
    RegionUrbanRural.objects.create(region=hamlet, year=2023, code="220")
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="新村3号", region=hamlet, actor=None
    )
    registry.move_in(
        citizen_id=SPOUSE_ID,
        name="王芳",
        household=household,
        relation="02",
        transfer_permit_number="Q-7",
        on=dt.date(2010, 1, 1),
        actor=None,
    )
    return household


def _check(client, data):
    url = reverse("admin:settlement_application_window_check")
    return client.post(url, data).content.decode()


def test_the_destination_household_decides_rural_and_an_urban_hukou_gets_only_chapter_five(
    client, clerk, qy_current, village, headed, rural_home, make_person
):
    """清远 五: an urban hukou moving into a rural household is offered only the channels of
    chapter 五; into a town household the general kinship channel. Nobody types rural."""
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8), hukou_region=village)
    client.force_login(clerk)
    data = _form(applicant, rural_home, TO_SPOUSE)
    html = _check(client, data)
    assert "迁入户所在地的城乡划分代码" in html and "220 村庄" in html
    assert "申请人户口所在地的城乡划分代码" in html and "111 主城区" in html
    assert "城镇迁往农村：夫妻投靠（五（一））：✘ 不符合" in html
    assert "不满足：城镇方（申请人）无合法稳定就业" in html
    assert "直系亲属投靠（夫妻、未婚子女、父母）：✘ 不符合" in html
    assert "条件全部满足的渠道：暂无" in html
    data["fact_urban_side_stable_job"] = "no"
    html = _check(client, data)
    assert "条件全部满足的渠道：城镇迁往农村：夫妻投靠<" in html
    # the same applicant into the town household: the general channel, not chapter 五
    html = _check(client, _form(applicant, headed, TO_SPOUSE | {"channel": "kinship"}))
    assert "111 主城区" in html and "220 村庄" not in html
    assert "直系亲属投靠（夫妻、未婚子女、父母）：✔ 符合" in html
    assert "城镇迁往农村：夫妻投靠：✘ 不符合" in html
    # a typed category is not a field of the window: it changes nothing
    html = _check(client, data | {"fact_destination_rural": "no", "fact_hukou_urban": "no"})
    assert "条件全部满足的渠道：城镇迁往农村：夫妻投靠<" in html


def test_the_window_stores_the_registers_urban_rural_codes_with_the_application(
    client, clerk, qy_current, village, rural_home, make_person
):
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8), hukou_region=village)
    client.force_login(clerk)
    changes = TO_SPOUSE | {"fact_urban_side_stable_job": "no", "relation": "10"}
    changes |= {"fact_hukou_urban_rural_code": "220"}  # typed: the register outranks it
    response = client.post(
        reverse("admin:settlement_application_add"), _form(applicant, rural_home, changes)
    )
    assert response.status_code == 302, _field_error(response.content.decode(), "relation")
    app = Application.objects.get()
    assert app.evidence["destination_urban_rural_code"] == "220"
    assert app.evidence["hukou_urban_rural_code"] == "111"
    assert app.evidence["sponsor_relation_code"] == "10"
    assert "destination_rural" not in app.evidence and "sponsor_relation" not in app.evidence
    assert services.application_eligibility(application=app)["status"] == "met"


def test_a_registered_sponsor_s_hukou_comes_from_the_register_not_the_choice(
    client, clerk, qy_current, village, rural_home, make_person
):
    """The sponsor picked from the register: whether their hukou is in the city and its
    urban-rural code are the register's (a code chosen in the form is overruled)."""
    from population.models import Person

    applicant = make_person(name="李四", born=dt.date(1988, 8, 8), hukou_region=village)
    wife = Person.objects.get(citizen_id=SPOUSE_ID)
    client.force_login(clerk)
    changes = TO_SPOUSE | {"fact_urban_side_stable_job": "no", "relation": "10"}
    changes |= {
        "fact_sponsor": str(wife.pk),
        "fact_sponsor_hukou_urban_rural_code": "111",
        "fact_sponsor_hukou_in_city": "no",
    }
    html = _check(client, _form(applicant, rural_home, changes))
    assert "被投靠人户口所在地的城乡划分代码" in html and "220 村庄" in html
    response = client.post(
        reverse("admin:settlement_application_add"), _form(applicant, rural_home, changes)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    app = Application.objects.get()
    assert app.evidence["sponsor_hukou_urban_rural_code"] == "220"
    assert app.evidence["sponsor_hukou_in_city"] is True


def test_a_property_row_left_half_filled_is_refused_on_its_field(
    client, clerk, qy_current, headed, make_person
):
    applicant = make_person(name="李四", born=dt.date(1988, 8, 8))
    client.force_login(clerk)
    data = _form(applicant, headed, {"fact_properties_1_area_m2": ""})
    response = client.post(reverse("admin:settlement_application_add"), data)
    html = response.content.decode()
    assert response.status_code == 200 and not Application.objects.exists()
    assert _field_error(html, "fact_properties_1_area_m2") == "请填写此项（或清空该条记录）"
    data = _form(applicant, headed, {"fact_properties_1_use": "", "fact_properties_1_owner": "",
                                     "fact_properties_1_area_m2": "",
                                     "fact_properties_1_registered": ""})  # fmt: skip
    html = client.post(reverse("admin:settlement_application_add"), data).content.decode()
    assert _field_error(html, "fact_properties") == "选择“有”时请至少填写一条记录"
    assert not Application.objects.exists()


def test_the_window_asks_the_relation_code_in_words_and_never_the_destination(
    client, clerk, qy_current
):
    client.force_login(clerk)
    html = client.get(reverse("admin:settlement_application_add")).content.decode()
    form = html[html.index('id="window-form"') : html.index('id="channel-facts"')]
    assert 'name="fact_sponsor_relation_code"' in form
    assert '<option value="70">70 兄弟姐妹</option>' in form
    assert '<option value="55">55 岳父</option>' in form
    relations = form.split('name="fact_sponsor_relation_code"')[1].split("</select>")[0]
    assert 'value="99"' not in relations and 'value="01"' not in relations
    for asked_no_more in ("destination_urban_rural_code", "destination_rural", "sponsor_relation\"",
                          "fact_hukou_urban\"", "residence_zone", "residence_kind",
                          "owns_residential_home", "social_insurance_months"):  # fmt: skip
        assert f'name="fact_{asked_no_more}' not in form
    facts = json.loads(re.search(r'id="channel-facts"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert "sponsor_relation_code" in facts["kinship"]
    assert "hukou_urban_rural_code" in facts["rural_spouse"]
    assert not {"destination_rural", "destination_urban_rural_code", "sponsor_relation"} & set(
        facts["kinship"]
    )
