"""Facts as observations (issue 16, "What it must do" 1): a GB/T 4761 relation code,
urban-rural codes, region codes, property, rental, insurance and employment records and a
soldier's status establish the categories the rules read; a category is never stated (it is
refused, naming the facts to state), nor is a fact of the old shape (version 1)."""

from __future__ import annotations

import pytest

from population.errors import DomainError
from settlement.facts import FACTS_VERSION, RETIRED, facts_derive, relation_category
from settlement.rules import DATA_DIR
from settlement.services import settlement_precheck

pytestmark = pytest.mark.django_db

QY, JM, LC, SG = "441800", "440700", "530900", "440200"
DATES = {QY: "2016-05-01", JM: "2019-03-01", LC: "2016-01-01", SG: "2018-01-01"}


def home(owner="applicant", use="residential", area=90, registered=True):
    return {"owner": owner, "use": use, "area_m2": area, "registered": registered}


def _ask(city, facts, channel=None):
    payload = {"city_code": city, "date": DATES[city], "facts": facts}
    if channel:
        payload["channel"] = channel
    return settlement_precheck(payload)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("10", "spouse"),
        ("12", "spouse"),
        ("20", "child"),
        ("31", "child"),
        ("28", "in_law"),
        ("38", "in_law"),
        ("55", "in_law"),
        ("41", "grandchild"),
        ("51", "parent"),
        ("61", "grandparent"),
        ("70", "sibling"),
        ("83", "other_collateral"),  # 叔父
        ("93", "other_collateral"),  # 侄子
        ("97", "none"),
        ("99", "none"),
        ("x", None),
    ],
)
def test_gbt_4761_codes_give_the_kinship_category(code, category):
    assert relation_category(code) == category


def test_a_sibling_by_code_qualifies_for_the_jiangmen_second_home():
    facts = {
        "sponsor_relation_code": "70",
        "properties": [home("sponsor"), home("sponsor", area=50)],
        "lives_in_sponsor_home": True,
    }
    assert _ask(JM, facts, "collateral_in_second_home")["qualifies"] == [
        "collateral_in_second_home"
    ]
    # a shop is no second home
    facts["properties"][1]["use"] = "shop"
    assert _ask(JM, facts, "collateral_in_second_home")["channels"][0]["status"] == "unmet"


def test_an_in_law_is_not_a_collateral_relative():
    facts = {
        "sponsor_relation_code": "55",
        "properties": [home("sponsor"), home("sponsor")],
        "lives_in_sponsor_home": True,
    }
    assert _ask(JM, facts, "collateral_in_second_home")["channels"][0]["status"] == "unmet"


def test_urban_rural_codes_decide_the_move_into_a_village():
    facts = {
        "sponsor_relation_code": "10",
        "sponsor_hukou_in_city": True,
        "lives_with_sponsor": True,
        "hukou_urban_rural_code": "111",
        "destination_urban_rural_code": "220",
        "urban_side_stable_job": True,
    }
    kinship = next(c for c in _ask(QY, facts)["channels"] if c["code"] == "kinship")
    assert kinship["status"] == "unmet"
    facts["destination_urban_rural_code"] = "121"  # a town centre: the general channel
    assert "kinship" in _ask(QY, facts)["qualifies"]


def test_the_answer_asks_for_the_observation_not_the_category():
    facts = {"sponsor_relation_code": "10", "sponsor_hukou_in_city": True,
             "lives_with_sponsor": True}  # fmt: skip
    channel = _ask(QY, facts, "kinship")["channels"][0]
    assert channel["missing"] == ["destination_rural", "hukou_urban"]
    assert channel["ask"] == ["destination_urban_rural_code", "hukou_urban_rural_code"]
    assert channel["ask_zh"] == [
        "迁入户所在地的城乡划分代码",
        "申请人户口所在地的城乡划分代码（111…220）",
    ]
    assert channel["observe"] == {
        "destination_rural": ["destination_urban_rural_code"],
        "hukou_urban": ["hukou_urban_rural_code"],
    }


@pytest.mark.parametrize(
    ("city", "region", "zone", "channel", "qualifies"),
    [
        (JM, "440703001", "core_district", "stable_home_county", False),
        (JM, "440781", "county_city", "stable_home_county", True),
        (JM, "441802", "outside_zones", "stable_home_county", False),
        # 清远: 清城区 and 清新区太和镇 are the 中心城区; 清新区's other towns are 其他建制镇
        (QY, "441802006001", "central", "central_local", True),
        (QY, "441803102", "central", "central_local", True),
        (QY, "441803104", "town", "town_residence", True),
        (QY, "441803104000", "town", "central_local", False),
        (QY, "441821100", "county_seat", "town_residence", True),
        (QY, "441881001", "county_city", "town_residence", True),
        (QY, "441823201", "outside_zones", "town_residence", False),  # 秤架瑶族乡: no 建制镇
        # 临沧: 县城 = each county's seat; 其他城镇 = the other towns
        (LC, "530921101", "county_town", "county_town", True),
        (LC, "530902001", "county_town", "county_town", True),
        (LC, "530921102", "town", "county_town", False),
        (LC, "530921201", "outside_zones", "county_town", False),
    ],
)
def test_the_zone_comes_from_the_region_code_by_the_rule_sets_own_table(
    city, region, zone, channel, qualifies
):
    facts = {"residence_region_code": region, "properties": [home()], "hukou_in_city": True}
    content = {"city_code": city, **_content(city)}
    assert facts_derive(facts, content)["residence_zone"] == zone
    answer = _ask(city, facts, channel)
    assert (answer["qualifies"] == [channel]) is qualifies
    assert "residence_zone" not in answer["channels"][0]["ask"]


def _content(city):
    import json

    for path in DATA_DIR.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["city_code"] == city:
            return data
    raise LookupError(city)


def test_shaoguan_defines_no_zones_and_needs_none():
    facts = {"residence_region_code": "440203001", "rents_home": True, "properties": [],
             "insurance": [{"kind": "medical", "type": "urban_rural_resident",
                            "region_code": "440203", "months": 2}]}  # fmt: skip
    answer = _ask(SG, facts, "home_insured")
    assert answer["zones"] == {} and answer["qualifies"] == ["home_insured"]


@pytest.mark.parametrize(
    ("facts", "fragments"),
    [
        ({"residence_zone": "central"}, ["residence_region_code"]),
        ({"residence_kind": "rented"}, ["properties", "rents_home", "rental_registered"]),
        ({"owns_residential_home": True}, ["properties", "use=residential"]),
        ({"homes_owned": 2}, ["properties", "owner=sponsor"]),
        ({"sponsor_homes_owned": 2}, ["properties"]),
        ({"property_certificate": True}, ["properties[].registered"]),
        ({"sponsor_has_home": True}, ["properties"]),
        ({"sponsor_has_home_incl_rented": True}, ["sponsor_rents_home"]),
        ({"employed_locally": True}, ["employment_region_code", "employment_months"]),
        ({"social_insurance_months": 12}, ["insurance"]),
        ({"medical_insurance": True}, ["insurance", "kind=medical"]),
        ({"spouse_or_child_of_serviceman": True}, ["serviceman_relation_code"]),
        ({"not_accompanying_serviceman": True}, ["military_accompany"]),
        ({"serviceman_owns_town_home": True}, ["lives_in_serviceman_town_home"]),
        ({"sponsor_relation": "parent"}, ["sponsor_relation_code"]),
        ({"hukou_urban": True}, ["hukou_urban_rural_code"]),
        ({"destination_rural": False}, ["destination_urban_rural_code"]),
        ({"housing_area_per_person_m2": 20}, ["household_persons", "properties"]),
        ({"housing_hardship_standard_m2": 15}, ["constants.housing_hardship_standard_m2"]),
    ],
)
def test_a_fact_of_the_old_shape_is_refused_naming_the_new_field(facts, fragments):
    with pytest.raises(DomainError) as exc:
        _ask(QY, facts)
    assert exc.value.code == "bad_facts"
    assert f"事实格式第{FACTS_VERSION}版" in exc.value.message_zh
    assert f"facts version {FACTS_VERSION}" in exc.value.message_en
    (name,) = facts
    for fragment in fragments:
        assert fragment in exc.value.message_zh and fragment in exc.value.message_en, fragment
    assert name in RETIRED


@pytest.mark.parametrize("version", [1, 3, "2", True])
def test_a_request_of_another_facts_version_is_refused_naming_the_new_fields(version):
    with pytest.raises(DomainError) as exc:
        settlement_precheck(
            {"city_code": QY, "date": "2016-05-01", "facts_version": version, "facts": {}}
        )
    assert exc.value.code == "bad_facts_version"
    assert "第2版" in exc.value.message_zh and "properties" in exc.value.message_zh
    assert "version 2" in exc.value.message_en and "residence_region_code" in exc.value.message_en
    answer = settlement_precheck(
        {"city_code": QY, "date": "2016-05-01", "facts_version": 2, "facts": {}}
    )
    assert answer["facts_version"] == 2


@pytest.mark.parametrize(
    ("facts", "fragment"),
    [
        (
            {
                "properties": [
                    {"owner": "me", "use": "residential", "area_m2": 1, "registered": True}
                ]
            },
            "properties",
        ),
        (
            {
                "properties": [
                    {"owner": "applicant", "use": "warehouse", "area_m2": 1, "registered": True}
                ]
            },
            "properties",
        ),
        (
            {
                "properties": [
                    {"owner": "applicant", "use": "residential", "area_m2": -1, "registered": True}
                ]
            },
            "properties",
        ),
        ({"properties": [{"owner": "applicant", "use": "residential"}]}, "properties"),
        ({"properties": {"owner": "applicant"}}, "properties"),
        ({"properties": [home()] * 21}, "properties"),
        (
            {
                "insurance": [
                    {
                        "kind": "medical",
                        "type": "urban_employee",
                        "region_code": "清城区",
                        "months": 1,
                    }
                ]
            },
            "insurance",
        ),
        (
            {
                "insurance": [
                    {"kind": "medical", "type": "commercial", "region_code": "441802", "months": 1}
                ]
            },
            "insurance",
        ),
        ({"rents_home": "yes"}, "rents_home"),
        ({"military_accompany": "maybe"}, "military_accompany"),
        ({"destination_urban_rural_code": "999"}, "destination_urban_rural_code"),
        ({"residence_region_code": "44abc"}, "residence_region_code"),
        ({"employment_region_code": "4418"}, "employment_region_code"),
        ({"serviceman_relation_code": "1"}, "serviceman_relation_code"),
    ],
)
def test_a_malformed_record_or_code_is_refused_naming_it(facts, fragment):
    with pytest.raises(DomainError) as exc:
        _ask(QY, facts)
    assert exc.value.code == "bad_facts"
    assert fragment in exc.value.message_zh and fragment in exc.value.message_en


def test_a_home_of_the_spouse_counts_for_the_sponsor_only_when_the_sponsor_is_the_spouse():
    content = {"city_code": JM}
    facts = {"properties": [home("spouse")]}
    assert "sponsor_owns_home" not in facts_derive(facts, content)  # whose spouse? not known
    assert facts_derive(facts | {"sponsor_relation_code": "10"}, content)["sponsor_owns_home"]
    derived = facts_derive(facts | {"sponsor_relation_code": "51"}, content)
    assert derived["sponsor_owns_home"] is False and derived["owns_home"] is True


def test_insurance_counts_only_in_the_city_and_by_its_type():
    content = {"city_code": SG}
    facts = {"insurance": [
        {"kind": "pension", "type": "urban_rural_resident", "region_code": "440203", "months": 30},
        {"kind": "pension", "type": "urban_employee", "region_code": "440703", "months": 40},
        {"kind": "medical", "type": "urban_employee", "region_code": "440204001", "months": 8},
    ]}  # fmt: skip
    derived = facts_derive(facts, content)
    assert derived["social_insurance_months"] == 30
    assert derived["employee_insurance_months"] == 8
    assert derived["medical_insurance"] is True
    assert facts_derive({"insurance": []}, content)["medical_insurance"] is False


def test_the_housing_area_is_the_sponsors_homes_over_the_persons_living_there():
    content = {"city_code": LC}
    facts = {"properties": [home("sponsor", area=70), home("sponsor", use="shop", area=500),
                            home("applicant", area=100)], "household_persons": 4}  # fmt: skip
    assert facts_derive(facts, content)["housing_area_per_person_m2"] == 17.5
    assert "housing_area_per_person_m2" not in facts_derive(
        {"properties": facts["properties"]}, content
    )


def test_a_soldier_s_spouse_who_does_not_accompany_him_joins_his_parents():
    facts = {
        "serviceman_relation_code": "10",
        "serviceman_active": True,
        "military_accompany": "not_accompanying",
        "lives_with_serviceman_elders": True,
    }
    assert _ask(LC, facts, "military_family")["qualifies"] == ["military_family"]
    facts["military_accompany"] = "accompanying"  # 随军: 按国家有关政策执行, not this clause
    answer = _ask(LC, facts, "military_family")["channels"][0]
    assert answer["status"] == "missing"
    assert answer["ask"] == ["lives_in_serviceman_town_home"]


def test_evidence_recorded_before_a_fact_was_retired_is_read_without_it():
    from settlement.facts import RecordedEvidence
    from settlement.models import Application, RuleSet

    app = Application(
        rule_set=RuleSet.objects.get(city_code=JM),
        evidence={"homes_owned": 2, "sponsor_relation": "sibling", "sponsor_relation_code": "70"},
    )
    assert RecordedEvidence().facts_for(application=app) == {"sponsor_relation_code": "70"}
