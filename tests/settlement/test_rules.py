"""Each shipped rule set, from its document's own wording: per channel, one applicant who
qualifies and one who just fails (one fact changed). Judged through the pre-check service."""

from __future__ import annotations

import json

import pytest

from population.errors import DomainError, NotFound
from settlement.models import RuleSet
from settlement.rules import DATA_DIR, ruleset_load_file
from settlement.services import settlement_precheck

pytestmark = pytest.mark.django_db

QY, GZ, JM, LC, SG = "441800", "440100", "440700", "530900", "440200"
URBAN, RURAL = "111", "220"  # 城乡划分代码: 主城区, 村庄
FATHER, SON, WIFE, BROTHER, GRANDFATHER, UNCLE = "51", "20", "10", "71", "61", "97"
KIN = {"sponsor_hukou_in_city": True, "lives_with_sponsor": True}
CONSENT = {"village_two_thirds_consent": True, "village_committee_consent": True}
URBAN_TO_RURAL = {"hukou_urban_rural_code": URBAN, "destination_urban_rural_code": RURAL}
# region codes (2022 统计用区划代码): 清远 清城区凤城街道某居委会 / 佛冈县石角镇 / 清新区太平镇 /
# 英德市英城街道 / 阳山县秤架瑶族乡; 江门 蓬江区 / 台山市; 临沧 凤庆县凤山镇 / 鲁史镇 / 诗礼乡
QY_CENTRAL, QY_SEAT, QY_TOWN, QY_COUNTY_CITY, QY_XIANG = (
    "441802006001", "441821100", "441803104", "441881001", "441823201",
)  # fmt: skip
JM_CORE, JM_COUNTY, OTHER_CITY = "440703", "440781", "440106"
LC_COUNTY_TOWN, LC_TOWN, LC_XIANG = "530921101", "530921102", "530921201"


def home(owner="applicant", use="residential", area=90, registered=True):
    """One property record (本市不动产登记或购房合同)."""
    return {"owner": owner, "use": use, "area_m2": area, "registered": registered}


def insured(months, *, kind="pension", type="urban_employee", region=JM_CORE):
    """One social-insurance record."""
    return {"kind": kind, "type": type, "region_code": region, "months": months}


RENTS = {"properties": [], "rents_home": True, "rental_registered": False}
OWNS = {"properties": [home()], "rents_home": False}
NO_HOME = {"properties": [], "rents_home": False}

# (city, date, channel, facts that qualify, [changes that each just fail one condition]),
# every fact an observation: codes, records, what a document proves.
CASES = [
    # 清远 2015: 四（一）投靠 夫妻、未婚子女、父母；不受婚龄、年龄限制
    (
        QY,
        "2016-05-01",
        "kinship",
        {
            "sponsor_relation_code": FATHER,
            "married": False,
            "destination_urban_rural_code": URBAN,
            **KIN,
        },
        [
            {"sponsor_relation_code": GRANDFATHER},
            {"married": True},
            {"sponsor_hukou_in_city": False},
            {"lives_with_sponsor": False},
            {"destination_urban_rural_code": RURAL, "hukou_urban_rural_code": URBAN},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "kinship",
        {
            "sponsor_relation_code": SON,
            "hukou_urban_rural_code": RURAL,
            "destination_urban_rural_code": RURAL,
            **KIN,
        },
        [{"sponsor_relation_code": BROTHER}, {"hukou_urban_rural_code": URBAN}],
    ),
    # 四（二）大专以上学历 + 合法稳定住所（含租赁，未备案亦可）+ 就业
    (
        QY,
        "2016-05-01",
        "graduate_college",
        {
            "degree": "junior_college",
            "residence_region_code": QY_SEAT,
            **RENTS,
            "employment_region_code": QY_SEAT,
            "employment_months": 3,
        },
        [
            {"degree": "technical_secondary"},
            {"residence_region_code": QY_XIANG},
            {"rents_home": False},
            {"employment_region_code": OTHER_CITY},
            {"employment_months": 0},
        ],
    ),
    # 四（三）中心城区以外的县级市市区、县城、建制镇
    (
        QY,
        "2016-05-01",
        "town_residence",
        {"residence_region_code": QY_TOWN, **RENTS},
        [
            {"residence_region_code": QY_CENTRAL},
            {"residence_region_code": QY_XIANG},
            {"rents_home": False},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "town_residence",
        {"residence_region_code": QY_COUNTY_CITY, **OWNS},
        [{"properties": [home(use="shop")]}, {"properties": [home(owner="sponsor")]}],
    ),
    (
        QY,
        "2016-05-01",
        "central_local",
        {
            "hukou_in_city": True,
            "residence_region_code": QY_CENTRAL,
            "properties": [home(owner="spouse")],
            "rents_home": False,
        },
        [
            {"hukou_in_city": False},
            {"residence_region_code": QY_TOWN},
            {"properties": [home(owner="spouse", use="factory")]},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "central_outsider",
        {
            "hukou_in_city": False,
            "residence_region_code": QY_CENTRAL,
            "employment_region_code": QY_CENTRAL,
            "employment_months": 12,
            **RENTS,
        },
        [
            {"hukou_in_city": True},
            {"residence_region_code": QY_SEAT},
            {"employment_region_code": QY_SEAT},
            {"employment_months": 0},
            {"rents_home": False},
        ],
    ),
    # 四（五）不包括厂房、商铺、仓库；凭房屋产权证或认证的购房合同
    (
        QY,
        "2016-05-01",
        "home_purchase",
        {"residence_region_code": QY_TOWN, "properties": [home(), home(use="shop")]},
        [
            {"residence_region_code": QY_XIANG},
            {"properties": [home(use="shop")]},
            {"properties": [home(registered=False)]},
            {"properties": [home(owner="other")]},
        ],
    ),
    # 五（一）城镇方须无合法稳定就业 + 三分之二户签名 + 村委会
    (
        QY,
        "2016-05-01",
        "rural_spouse",
        {
            "sponsor_relation_code": WIFE,
            "urban_side_stable_job": False,
            **URBAN_TO_RURAL,
            **CONSENT,
        },
        [
            {"hukou_urban_rural_code": RURAL},
            {"destination_urban_rural_code": URBAN},
            {"sponsor_relation_code": FATHER},
            {"urban_side_stable_job": True},
            {"village_two_thirds_consent": False},
            {"village_committee_consent": False},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "rural_child_to_parents",
        {
            "sponsor_relation_code": FATHER,
            "married": False,
            "urban_side_stable_job": False,
            "has_town_residence": False,
            "parent_is_head_or_has_homestead": True,
            **URBAN_TO_RURAL,
            **CONSENT,
        },
        [
            {"married": True},
            {"sponsor_relation_code": WIFE},
            {"has_town_residence": True},
            {"parent_is_head_or_has_homestead": False},
            {"hukou_urban_rural_code": RURAL},
            {"destination_urban_rural_code": "121"},
            {"urban_side_stable_job": True},
            {"village_two_thirds_consent": False},
            {"village_committee_consent": False},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "rural_homestead",
        {
            "urban_side_stable_job": False,
            "has_town_residence": False,
            "has_homestead_and_land": True,
            "lives_in_village": True,
            **URBAN_TO_RURAL,
            **CONSENT,
        },
        [
            {"village_committee_consent": False},
            {"has_homestead_and_land": False},
            {"lives_in_village": False},
            {"destination_urban_rural_code": "121"},
            {"hukou_urban_rural_code": "210"},
            {"urban_side_stable_job": True},
            {"has_town_residence": True},
            {"village_two_thirds_consent": False},
        ],
    ),
    (
        QY,
        "2016-05-01",
        "graduate_return_origin",
        {
            "graduate": True,
            "degree": "bachelor",
            "rural_hukou_origin": True,
            "graduate_has_job": False,
            "graduate_papers": True,
        },
        [
            {"graduate_has_job": True},
            {"degree": "technical_secondary"},
            {"rural_hukou_origin": False},
            {"graduate_papers": False},
            {"graduate": False},
        ],
    ),
    # 广州 穗府〔2016〕3号 二（四）积分 85 分（积分政策）与总量控制
    (
        GZ,
        "2017-01-01",
        "points",
        {"holds_residence_permit": True, "points": 85, "points_within_quota": True},
        [{"points": 84.5}, {"holds_residence_permit": False}, {"points_within_quota": False}],
    ),
    (
        GZ,
        "2017-01-01",
        "high_level_talent",
        {"high_level_talent": True, "skill_level": "senior"},
        [{"high_level_talent": False}],
    ),
    # 江门 2018 二（一）1 配偶在本市有合法固定住所（名下住宅，记在配偶或被投靠人名下）
    (
        JM,
        "2019-03-01",
        "spouse",
        {
            "sponsor_relation_code": WIFE,
            "properties": [home(owner="spouse")],
            "destination_urban_rural_code": URBAN,
        },
        [
            {"properties": []},
            {"properties": [home(owner="spouse", use="shop")]},
            {"sponsor_relation_code": FATHER},
            {"destination_urban_rural_code": RURAL, "lives_in_village": False},
        ],
    ),
    # 二（一）2 在校学生除外；含租赁
    (
        JM,
        "2019-03-01",
        "parents_to_child",
        {
            "sponsor_relation_code": SON,
            "sponsor_is_minor": False,
            "sponsor_is_student": False,
            "sponsor_hukou_in_city": True,
            "properties": [],
            "sponsor_rents_home": True,
            "destination_urban_rural_code": URBAN,
        },
        [
            {"sponsor_is_student": True},
            {"sponsor_is_minor": True},
            {"sponsor_hukou_in_city": False},
            {"sponsor_rents_home": False},
            {"sponsor_relation_code": FATHER},
            {"destination_urban_rural_code": RURAL, "lives_in_village": False},
        ],
    ),
    (
        JM,
        "2019-03-01",
        "child_to_parents",
        {
            "sponsor_relation_code": FATHER,
            "married": False,
            "sponsor_hukou_in_city": True,
            "properties": [home(owner="sponsor")],
            "destination_urban_rural_code": URBAN,
        },
        [
            {"sponsor_hukou_in_city": False},
            {"married": True},
            {"properties": [home(owner="applicant")]},
            {"sponsor_relation_code": SON},
            {"destination_urban_rural_code": RURAL, "lives_in_village": False},
        ],
    ),
    (
        JM,
        "2019-03-01",
        "married_child_to_parents",
        {
            "sponsor_relation_code": FATHER,
            "married": True,
            "sponsor_hukou_in_city": True,
            "properties": [home(owner="sponsor")],
            "lives_with_sponsor": True,
            "destination_urban_rural_code": RURAL,
            "lives_in_village": True,
        },
        [
            {"lives_with_sponsor": False},
            {"married": False},
            {"properties": []},
            {"lives_in_village": False},
            {"sponsor_relation_code": GRANDFATHER},
            {"sponsor_hukou_in_city": False},
        ],
    ),
    (JM, "2019-03-01", "job_transfer", {"job_transfer": True}, [{"job_transfer": False}]),
    (
        JM,
        "2019-03-01",
        "high_level_talent",
        {"high_level_talent": True},
        [{"high_level_talent": False}],
    ),
    # 二（二）3 本科 / 初级职称 / 初级工 之一
    (
        JM,
        "2019-03-01",
        "specialist",
        {"degree": "bachelor", "professional_title": "none", "skill_level": "none"},
        [{"degree": "junior_college"}],
    ),
    (
        JM,
        "2019-03-01",
        "specialist",
        {"skill_level": "junior", "degree": "junior_college", "professional_title": "none"},
        [{"skill_level": "none"}],
    ),
    # 二（三）1 三区就业满半年 + 住所（含未备案的租赁）+ 社保满半年
    (
        JM,
        "2019-03-01",
        "stable_job_core",
        {
            "residence_region_code": JM_CORE,
            "employment_region_code": "440704",
            "employment_months": 6,
            **RENTS,
            "insurance": [insured(6)],
        },
        [
            {"insurance": [insured(5)]},
            {"insurance": [insured(6, region=OTHER_CITY)]},
            {"insurance": []},
            {"employment_months": 5},
            {"employment_region_code": JM_COUNTY},
            {"residence_region_code": JM_COUNTY},
            {"rents_home": False},
        ],
    ),
    (
        JM,
        "2019-03-01",
        "stable_home_county",
        {"residence_region_code": JM_COUNTY, **OWNS},
        [{"residence_region_code": JM_CORE}, {"properties": []}],
    ),
    # 二（三）2 购买商品住房或自建房（住宅，本人名下）
    (
        JM,
        "2019-03-01",
        "home_purchase",
        {"properties": [home(registered=False)]},
        [
            {"properties": [home(use="shop")]},
            {"properties": [home(owner="other")]},
            {"properties": []},
        ],
    ),
    (
        JM,
        "2019-03-01",
        "collateral_in_second_home",
        {
            "sponsor_relation_code": BROTHER,
            "properties": [home(owner="sponsor"), home(owner="sponsor", area=60)],
            "lives_in_sponsor_home": True,
        },
        [
            {"properties": [home(owner="sponsor"), home(owner="sponsor", use="shop")]},
            {"sponsor_relation_code": FATHER},
            {"lives_in_sponsor_home": False},
        ],
    ),
    (
        JM,
        "2019-03-01",
        "graduate_local_origin",
        {"graduate": True, "origin_in_city": True},
        [{"origin_in_city": False}, {"graduate": False}],
    ),
    (
        JM,
        "2019-03-01",
        "graduate_nonlocal",
        {"graduate": True, "origin_in_city": False},
        [{"graduate": False}, {"origin_in_city": True}],
    ),
    # 临沧 临政发〔2015〕112号：租赁性质的合法稳定住所须登记备案
    (
        LC,
        "2016-01-01",
        "county_town",
        {
            "residence_region_code": LC_COUNTY_TOWN,
            "properties": [],
            "rents_home": True,
            "rental_registered": True,
        },
        [{"residence_region_code": LC_TOWN}, {"rental_registered": False}, {"rents_home": False}],
    ),
    (
        LC,
        "2016-01-01",
        "rented_home",
        {
            "residence_region_code": LC_TOWN,
            "rents_home": True,
            "rental_registered": True,
            "landlord_consent": True,
        },
        [
            {"landlord_consent": False},
            {"rental_registered": False},
            {"residence_region_code": LC_XIANG},
            {"rents_home": False},
        ],
    ),
    (
        LC,
        "2016-01-01",
        "return_origin",
        {
            "rural_hukou_origin": True,
            "hukou_urban_rural_code": "121",
            "family_land_rights_at_origin": True,
            "lives_in_village": True,
        },
        [
            {"lives_in_village": False},
            {"hukou_urban_rural_code": RURAL},
            {"rural_hukou_origin": False},
            {"family_land_rights_at_origin": False},
        ],
    ),
    (
        LC,
        "2016-01-01",
        "urban_rural_marriage",
        {
            "sponsor_relation_code": WIFE,
            "hukou_urban_rural_code": URBAN,
            "sponsor_hukou_urban_rural_code": RURAL,
            "lives_with_sponsor": True,
        },
        [
            {"sponsor_hukou_urban_rural_code": "112"},
            {"sponsor_relation_code": BROTHER},
            {"lives_with_sponsor": False},
        ],
    ),
    # 三（二）5 祖孙投靠须人均住房面积不低于住房困难标准（被投靠人住宅面积 ÷ 同住人数）
    (
        LC,
        "2016-01-01",
        "lineal_kin",
        {
            "sponsor_relation_code": GRANDFATHER,
            "lives_with_sponsor": True,
            "properties": [home(owner="sponsor", area=60)],
            "household_persons": 4,
        },
        [
            {"household_persons": 5},
            {"properties": [home(owner="sponsor", area=59.9)]},
            {"lives_with_sponsor": False},
            {"sponsor_relation_code": UNCLE},
        ],
    ),
    # 未成年子女投靠父母不看面积；成年子女要看
    (
        LC,
        "2016-01-01",
        "lineal_kin",
        {
            "sponsor_relation_code": FATHER,
            "lives_with_sponsor": True,
            "age": 17,
            "properties": [home(owner="sponsor", area=40)],
            "household_persons": 4,
        },
        [{"age": 18}],
    ),
    (LC, "2016-01-01", "student", {"is_student": True}, [{"is_student": False}]),
    (LC, "2016-01-01", "graduate", {"graduate": True}, [{"graduate": False}]),
    # 三（二）7 现役军人的配偶、子女不随军，与军人父母共同居住
    (
        LC,
        "2016-01-01",
        "military_family",
        {
            "serviceman_relation_code": WIFE,
            "serviceman_active": True,
            "military_accompany": "not_accompanying",
            "lives_with_serviceman_elders": True,
            "lives_in_serviceman_town_home": False,
        },
        [
            {"lives_with_serviceman_elders": False},
            {"military_accompany": "accompanying"},
            {"serviceman_active": False},
            {"serviceman_relation_code": BROTHER},
        ],
    ),
    # …或实际居住在现役军人在城镇购买的住房的直系亲属
    (
        LC,
        "2016-01-01",
        "military_family",
        {
            "serviceman_relation_code": SON,
            "serviceman_active": True,
            "military_accompany": "accompanying",
            "lives_in_serviceman_town_home": True,
        },
        [{"lives_in_serviceman_town_home": False}, {"serviceman_relation_code": UNCLE}],
    ),
    (
        LC,
        "2016-01-01",
        "permit_holder",
        {"holds_residence_permit": True, **OWNS},
        [{"holds_residence_permit": False}, {"properties": [home(use="other")]}],
    ),
    # 韶关 韶府办〔2017〕37号：合法稳定住所（含租赁）且购买了社保、医保
    (
        SG,
        "2018-01-01",
        "home_insured",
        {
            **RENTS,
            "insurance": [insured(1, kind="medical", type="urban_rural_resident", region="440203")],
        },
        [
            {"insurance": [insured(1, kind="pension", region="440203")]},
            {"insurance": [insured(1, kind="medical", region=JM_CORE)]},
            {"rents_home": False},
        ],
    ),
    # 参加城镇社会保险1年以上（含1年）：城镇职工
    (
        SG,
        "2018-01-01",
        "insured_one_year",
        {"insurance": [insured(12, region="440203")]},
        [
            {"insurance": [insured(11, region="440203")]},
            {"insurance": [insured(12, type="urban_rural_resident", region="440203")]},
            {"insurance": [insured(12, region=JM_CORE)]},
        ],
    ),
    (
        SG,
        "2018-01-01",
        "talent_open",
        {"returned_overseas_student": True, "graduate": False, "skill_level": "none"},
        [{"returned_overseas_student": False}],
    ),
    (
        SG,
        "2018-01-01",
        "rural_student",
        {"is_student": True, "rural_hukou_origin": True},
        [{"rural_hukou_origin": False}, {"is_student": False}],
    ),
    (
        SG,
        "2018-01-01",
        "rural_graduate",
        {"graduate": True, "rural_hukou_origin": True},
        [{"graduate": False}, {"rural_hukou_origin": False}],
    ),
]


def _verdict(city, date, channel, facts):
    result = settlement_precheck({"city_code": city, "date": date, "facts": facts})
    return next(c for c in result["channels"] if c["code"] == channel), result


@pytest.mark.parametrize(
    ("city", "date", "channel", "facts", "change"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_qualifies_and_just_fails(city, date, channel, facts, change):
    verdict, result = _verdict(city, date, channel, facts)
    assert verdict["status"] == "met", verdict
    assert channel in result["qualifies"]
    for one in change:  # each change fails one condition (written beside the case)
        failing, _ = _verdict(city, date, channel, facts | one)
        assert failing["status"] == "unmet", (one, failing)
        assert failing["unmet"] and failing["ask"] == [], (one, failing)


def test_every_shipped_channel_is_covered_by_the_table():
    covered = {(city, ch) for city, _, ch, _, _ in CASES}
    shipped = {
        (rs.city_code, c["code"]) for rs in RuleSet.objects.all() for c in rs.content["channels"]
    }
    assert shipped == covered


def test_each_condition_reports_the_fact_it_used():
    verdict, _ = _verdict(
        JM,
        "2019-03-01",
        "stable_job_core",
        {
            "residence_region_code": JM_CORE,
            "employment_region_code": JM_CORE,
            "employment_months": 7,
            "insurance": [insured(5), insured(9, region=OTHER_CITY)],
        },
    )
    leaves = verdict["conditions"]["all"]
    assert [(x.get("fact"), x.get("value"), x["status"]) for x in leaves] == [
        ("residence_zone", "core_district", "met"),
        ("employment_zone", "core_district", "met"),
        ("employment_months", 7, "met"),
        (None, None, "missing"),  # the residence: own home or rental, not stated
        ("social_insurance_months", 5, "unmet"),  # months insured elsewhere do not count
    ]
    assert verdict["status"] == "unmet"
    assert verdict["missing"] == verdict["ask"] == []  # nothing unknown can save it
    assert verdict["unmet"] == ["参加社会保险满半年"]


def test_unknown_fact_is_missing_not_unmet():
    verdict, _ = _verdict(SG, "2018-01-01", "insured_one_year", {})
    assert verdict["status"] == "missing"
    assert verdict["missing"] == ["employee_insurance_months"]
    assert verdict["ask"] == ["insurance"]  # the derived months are asked as the records


def test_judged_by_the_rule_set_in_force_on_the_date():
    # 清远 2015: 有效期五年 (to 2020-03-14)
    assert (
        settlement_precheck({"city_code": QY, "date": "2020-03-14", "facts": {}})["rule_set"][
            "version"
        ]
        == "2015"
    )
    with pytest.raises(NotFound) as exc:
        settlement_precheck({"city_code": QY, "date": "2020-03-15", "facts": {}})
    assert exc.value.code == "no_rules"
    # 江门: 2018-10-01 起施行；之前的 2015 通知未收录
    with pytest.raises(NotFound):
        settlement_precheck({"city_code": JM, "date": "2018-09-30", "facts": {}})
    # 韶关 三年试行
    with pytest.raises(NotFound):
        settlement_precheck({"city_code": SG, "date": "2020-10-23", "facts": {}})


def test_jiangmen_abolished_points_and_investment():
    result = settlement_precheck(
        {
            "city_code": JM,
            "date": "2019-03-01",
            "facts": {"holds_residence_permit": True, "points": 200, "points_within_quota": True},
        }
    )
    assert result["abolished"] == ["points", "investment"]
    assert "points" not in [c["code"] for c in result["channels"]]
    assert result["qualifies"] == []


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        ([], "bad_request", "JSON 对象"),
        ({"city_code": "4407", "date": "2019-03-01"}, "bad_request", "city_code"),
        ({"city_code": JM, "date": "2019-02-30"}, "bad_request", "date"),
        ({"city_code": JM, "date": "2019-03-01", "extra": 1}, "bad_request", "extra"),
        ({"city_code": JM, "date": "2019-03-01", "facts": {"salary": 1}}, "bad_facts", "salary"),
        (
            {"city_code": JM, "date": "2019-03-01", "facts": {"married": "yes"}},
            "bad_facts",
            "married",
        ),
        (
            {"city_code": JM, "date": "2019-03-01", "facts": {"degree": "phd"}},
            "bad_facts",
            "degree",
        ),
        ({"city_code": JM, "date": "2019-03-01", "facts": {"points": -1}}, "bad_facts", "points"),
        ({"city_code": JM, "date": "2019-03-01", "facts": {"age": True}}, "bad_facts", "age"),
        ({"city_code": "999900", "date": "2019-03-01"}, "no_rules", "999900"),
    ],
)
def test_bad_precheck_input_is_refused(payload, code, fragment):
    with pytest.raises(DomainError) as exc:
        settlement_precheck(payload)
    assert exc.value.code == code
    assert fragment in exc.value.message_zh + exc.value.message_en


def test_loading_again_changes_nothing_and_changed_content_needs_a_new_version(tmp_path):
    before = list(RuleSet.objects.order_by("pk").values_list("pk", "city_code", "version"))
    assert len(before) == 5
    for path in sorted(DATA_DIR.glob("*.json")):
        assert ruleset_load_file(path=path)[1] is False
    data = json.loads((DATA_DIR / "shaoguan-2017.json").read_text(encoding="utf-8"))
    data["channels"][1]["condition"]["value"] = 6
    changed = tmp_path / "shaoguan-2017.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        ruleset_load_file(path=changed)
    assert exc.value.code == "rules_version_exists"
    # the same content as a new version overlapping in time is refused too
    data["version"] = "2017b"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        ruleset_load_file(path=changed)
    assert exc.value.code == "rules_overlap"
    # a new version after the old one ends is a new row
    data["effective_from"], data["effective_to"] = "2020-10-23", None
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    rule_set, created = ruleset_load_file(path=changed)
    assert created and rule_set.version == "2017b"
    assert settlement_precheck(
        {
            "city_code": SG,
            "date": "2021-01-01",
            "facts": {"insurance": [insured(6, region="440204")]},
        }
    )["qualifies"] == ["insured_one_year"]
    assert (
        list(RuleSet.objects.order_by("pk").values_list("pk", "city_code", "version"))[:5] == before
    )


def test_a_stored_rule_set_cannot_be_updated_or_deleted_even_in_sql():
    from django.db import ProgrammingError, transaction

    rule_set = RuleSet.objects.get(city_code=GZ)
    with pytest.raises(ProgrammingError), transaction.atomic():
        RuleSet.objects.filter(pk=rule_set.pk).update(document_number="x")
    with pytest.raises(ProgrammingError), transaction.atomic():
        RuleSet.objects.filter(pk=rule_set.pk).delete()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["channels"][1]["condition"].update(fact="salary"), "未知事实"),
        (lambda d: d["channels"][1]["condition"].update(op="~"), "未知运算"),
        (lambda d: d["channels"][1]["condition"].update(value="12"), "数值"),
        (lambda d: d["channels"][0].update(targets=["moon"]), "未知去向"),
        (lambda d: d["channels"][0].update(members=["cousin"]), "随迁类别"),
        (lambda d: d["channels"].append(dict(d["channels"][0])), "重复的渠道"),
        (lambda d: d.update(effective_to="2017-01-01"), "早于生效日期"),
        (lambda d: d["procedure"].update(transfer_permit_valid_days=0), "正整数"),
        (lambda d: d.pop("issuer"), "issuer"),
    ],
)
def test_a_bad_rule_file_is_refused_on_load_with_where(tmp_path, mutate, fragment):
    data = json.loads((DATA_DIR / "shaoguan-2017.json").read_text(encoding="utf-8"))
    data["version"] = "bad"
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    count = RuleSet.objects.count()
    with pytest.raises(DomainError) as exc:
        ruleset_load_file(path=path)
    assert exc.value.code == "bad_rules"
    assert fragment in str(exc.value)
    assert RuleSet.objects.count() == count


def test_every_condition_of_every_channel_just_fails_in_the_table():
    """Across the table's changes, each condition of a channel's top-level all-group fails
    at least once (an any-group counts as one condition)."""
    failed: dict[tuple[str, str], set[int]] = {}
    parts_of: dict[tuple[str, str], int] = {}
    for city, date, channel, facts, changes in CASES:
        key = (city, channel)
        seen = failed.setdefault(key, set())
        for one in changes:
            verdict, _ = _verdict(city, date, channel, facts | one)
            top = verdict["conditions"]
            parts = top.get("all", [top])
            parts_of[key] = len(parts)
            seen.update(i for i, part in enumerate(parts) if part["status"] == "unmet")
    uncovered = {k: sorted(set(range(parts_of[k])) - v) for k, v in failed.items()}
    assert {k: v for k, v in uncovered.items() if v} == {}
