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
KIN = {"sponsor_hukou_in_city": True, "lives_with_sponsor": True}
CONSENT = {"village_two_thirds_consent": True, "village_committee_consent": True}
URBAN_RURAL = {"hukou_urban": True, "destination_rural": True}

# (city, date, channel, facts that qualify, the one change that just fails)
CASES = [
    # 清远 2015: 四（一）投靠 不受婚龄、年龄限制
    (
        QY,
        "2016-05-01",
        "kinship",
        {"sponsor_relation": "parent", "married": False, "destination_rural": False, **KIN},
        {"sponsor_relation": "grandparent"},
    ),
    # 四（一）未婚子女投靠父母：已婚子女不在其列
    (
        QY,
        "2016-05-01",
        "kinship",
        {"sponsor_relation": "parent", "married": False, "hukou_urban": False, **KIN},
        {"married": True},
    ),
    # 四（二）大专以上学历 + 合法稳定住所（含租赁）+ 就业
    (
        QY,
        "2016-05-01",
        "graduate_college",
        {
            "degree": "junior_college",
            "residence_zone": "county_seat",
            "residence_kind": "rented",
            "employed_locally": True,
        },
        {"degree": "technical_secondary"},
    ),
    # 四（三）中心城区以外的建制镇
    (
        QY,
        "2016-05-01",
        "town_residence",
        {"residence_zone": "town", "residence_kind": "rented_registered"},
        {"residence_zone": "central"},
    ),
    (
        QY,
        "2016-05-01",
        "central_local",
        {"hukou_in_city": True, "residence_zone": "central", "residence_kind": "owned"},
        {"residence_kind": "none"},
    ),
    (
        QY,
        "2016-05-01",
        "central_outsider",
        {
            "hukou_in_city": False,
            "residence_zone": "central",
            "employed_locally": True,
            "residence_kind": "owned",
        },
        {"employed_locally": False},
    ),
    # 四（五）不包括厂房、商铺、仓库
    (
        QY,
        "2016-05-01",
        "home_purchase",
        {"residence_zone": "town", "owns_residential_home": True, "property_certificate": True},
        {"owns_residential_home": False},
    ),
    # 五（一）城镇方须无合法稳定就业 + 三分之二户签名 + 村委会
    (
        QY,
        "2016-05-01",
        "rural_spouse",
        {"sponsor_relation": "spouse", "urban_side_stable_job": False, **URBAN_RURAL, **CONSENT},
        {"village_two_thirds_consent": False},
    ),
    (
        QY,
        "2016-05-01",
        "rural_child_to_parents",
        {
            "sponsor_relation": "parent",
            "married": False,
            "urban_side_stable_job": False,
            "has_town_residence": False,
            "parent_is_head_or_has_homestead": True,
            **URBAN_RURAL,
            **CONSENT,
        },
        {"married": True},
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
            **URBAN_RURAL,
            **CONSENT,
        },
        {"village_committee_consent": False},
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
        {"graduate_has_job": True},
    ),
    # 广州 穗府〔2016〕3号 二（四）积分 85 分（积分政策）与总量控制
    (
        GZ,
        "2017-01-01",
        "points",
        {"holds_residence_permit": True, "points": 85, "points_within_quota": True},
        {"points": 84.5},
    ),
    (
        GZ,
        "2017-01-01",
        "high_level_talent",
        {"high_level_talent": True, "skill_level": "senior"},
        {"high_level_talent": False},
    ),
    # 江门 2018
    (
        JM,
        "2019-03-01",
        "spouse",
        {"sponsor_relation": "spouse", "sponsor_has_home": True, "destination_rural": False},
        {"sponsor_has_home": False},
    ),
    # 二（一）2 在校学生除外；含租赁
    (
        JM,
        "2019-03-01",
        "parents_to_child",
        {
            "sponsor_relation": "child",
            "sponsor_is_minor": False,
            "sponsor_is_student": False,
            "sponsor_hukou_in_city": True,
            "sponsor_has_home_incl_rented": True,
            "destination_rural": False,
        },
        {"sponsor_is_student": True},
    ),
    (
        JM,
        "2019-03-01",
        "child_to_parents",
        {
            "sponsor_relation": "parent",
            "married": False,
            "sponsor_hukou_in_city": True,
            "sponsor_has_home": True,
            "destination_rural": False,
        },
        {"sponsor_hukou_in_city": False},
    ),
    (
        JM,
        "2019-03-01",
        "married_child_to_parents",
        {
            "sponsor_relation": "parent",
            "married": True,
            "sponsor_hukou_in_city": True,
            "sponsor_has_home": True,
            "lives_with_sponsor": True,
            "destination_rural": True,
            "lives_in_village": True,
        },
        {"lives_with_sponsor": False},
    ),
    (JM, "2019-03-01", "job_transfer", {"job_transfer": True}, {"job_transfer": False}),
    (
        JM,
        "2019-03-01",
        "high_level_talent",
        {"high_level_talent": True},
        {"high_level_talent": False},
    ),
    # 二（二）3 本科 / 初级职称 / 初级工 之一
    (
        JM,
        "2019-03-01",
        "specialist",
        {"degree": "bachelor", "professional_title": "none", "skill_level": "none"},
        {"degree": "junior_college"},
    ),
    (
        JM,
        "2019-03-01",
        "specialist",
        {"skill_level": "junior", "degree": "junior_college", "professional_title": "none"},
        {"skill_level": "none"},
    ),
    # 二（三）1 就业满半年 + 住所 + 社保满半年
    (
        JM,
        "2019-03-01",
        "stable_job_core",
        {
            "residence_zone": "core_district",
            "employment_months": 6,
            "residence_kind": "rented_registered",
            "social_insurance_months": 6,
        },
        {"social_insurance_months": 5},
    ),
    (
        JM,
        "2019-03-01",
        "stable_home_county",
        {"residence_zone": "county_city", "residence_kind": "owned"},
        {"residence_zone": "core_district"},
    ),
    (
        JM,
        "2019-03-01",
        "home_purchase",
        {"owns_residential_home": True},
        {"owns_residential_home": False},
    ),
    (
        JM,
        "2019-03-01",
        "collateral_in_second_home",
        {"sponsor_relation": "sibling", "sponsor_homes_owned": 2, "lives_in_sponsor_home": True},
        {"sponsor_homes_owned": 1},
    ),
    (
        JM,
        "2019-03-01",
        "graduate_local_origin",
        {"graduate": True, "origin_in_city": True},
        {"origin_in_city": False},
    ),
    (
        JM,
        "2019-03-01",
        "graduate_nonlocal",
        {"graduate": True, "origin_in_city": False},
        {"graduate": False},
    ),
    # 临沧 临政发〔2015〕112号
    (
        LC,
        "2016-01-01",
        "county_town",
        {"residence_zone": "county_town", "residence_kind": "rented_registered"},
        {"residence_zone": "town"},
    ),
    (
        LC,
        "2016-01-01",
        "rented_home",
        {"residence_zone": "town", "residence_kind": "rented_registered", "landlord_consent": True},
        {"landlord_consent": False},
    ),
    (
        LC,
        "2016-01-01",
        "return_origin",
        {
            "rural_hukou_origin": True,
            "hukou_urban": True,
            "family_land_rights_at_origin": True,
            "lives_in_village": True,
        },
        {"lives_in_village": False},
    ),
    (
        LC,
        "2016-01-01",
        "urban_rural_marriage",
        {
            "sponsor_relation": "spouse",
            "hukou_urban": True,
            "sponsor_hukou_urban": False,
            "lives_with_sponsor": True,
        },
        {"sponsor_hukou_urban": True},
    ),
    # 二（二）5 祖孙投靠须人均住房面积不低于住房困难标准
    (
        LC,
        "2016-01-01",
        "lineal_kin",
        {
            "sponsor_relation": "grandparent",
            "lives_with_sponsor": True,
            "housing_area_per_person_m2": 15,
        },
        {"housing_area_per_person_m2": 14.9},
    ),
    # 未成年子女投靠父母不看面积；成年子女要看
    (
        LC,
        "2016-01-01",
        "lineal_kin",
        {
            "sponsor_relation": "parent",
            "lives_with_sponsor": True,
            "age": 17,
            "housing_area_per_person_m2": 10,
        },
        {"age": 18},
    ),
    (LC, "2016-01-01", "student", {"is_student": True}, {"is_student": False}),
    (LC, "2016-01-01", "graduate", {"graduate": True}, {"graduate": False}),
    (
        LC,
        "2016-01-01",
        "military_family",
        {
            "spouse_or_child_of_serviceman": True,
            "not_accompanying_serviceman": True,
            "lives_with_serviceman_elders": True,
            "serviceman_owns_town_home": False,
        },
        {"lives_with_serviceman_elders": False},
    ),
    (
        LC,
        "2016-01-01",
        "permit_holder",
        {"holds_residence_permit": True, "residence_kind": "owned"},
        {"holds_residence_permit": False},
    ),
    # 韶关 韶府办〔2017〕37号
    (
        SG,
        "2018-01-01",
        "home_insured",
        {
            "residence_kind": "rented_registered",
            "social_insurance_months": 1,
            "medical_insurance": True,
        },
        {"medical_insurance": False},
    ),
    # 参加城镇社会保险1年以上（含1年）
    (
        SG,
        "2018-01-01",
        "insured_one_year",
        {"social_insurance_months": 12},
        {"social_insurance_months": 11},
    ),
    (
        SG,
        "2018-01-01",
        "talent_open",
        {"returned_overseas_student": True, "graduate": False, "skill_level": "none"},
        {"returned_overseas_student": False},
    ),
    (
        SG,
        "2018-01-01",
        "rural_student",
        {"is_student": True, "rural_hukou_origin": True},
        {"rural_hukou_origin": False},
    ),
    (
        SG,
        "2018-01-01",
        "rural_graduate",
        {"graduate": True, "rural_hukou_origin": True},
        {"graduate": False},
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
    failing, _ = _verdict(city, date, channel, facts | change)
    assert failing["status"] == "unmet", failing
    assert failing["unmet"], failing


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
        {"residence_zone": "core_district", "employment_months": 7, "social_insurance_months": 5},
    )
    leaves = verdict["conditions"]["all"]
    assert [(x["fact"], x["value"], x["status"]) for x in leaves] == [
        ("residence_zone", "core_district", "met"),
        ("employment_months", 7, "met"),
        ("residence_kind", None, "missing"),
        ("social_insurance_months", 5, "unmet"),
    ]
    assert verdict["status"] == "unmet"
    assert verdict["missing"] == []  # an unknown fact cannot save an unmet channel
    assert verdict["unmet"] == ["参加社会保险满半年"]


def test_unknown_fact_is_missing_not_unmet():
    verdict, _ = _verdict(SG, "2018-01-01", "insured_one_year", {})
    assert verdict["status"] == "missing"
    assert verdict["missing"] == ["social_insurance_months"]


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
        {"city_code": SG, "date": "2021-01-01", "facts": {"social_insurance_months": 6}}
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
