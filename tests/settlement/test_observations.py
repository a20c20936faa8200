"""Facts as observations (issue 16, "What it must do" 1, in part): a GB/T 4761 relation code,
urban-rural codes and a region code establish the categories the rules read; a typed category
that contradicts its observation, an unknown code, or a zone the rule set does not have is
refused, naming the fields."""

from __future__ import annotations

import pytest

from population.errors import DomainError
from settlement.facts import facts_derive, relation_category
from settlement.services import settlement_precheck

pytestmark = pytest.mark.django_db

QY, JM, LC = "441800", "440700", "530900"


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
        ("97", None),
        ("99", None),
        ("x", None),
    ],
)
def test_gbt_4761_codes_give_the_kinship_category(code, category):
    assert relation_category(code) == category


def test_a_sibling_by_code_qualifies_for_the_jiangmen_second_home():
    answer = settlement_precheck(
        {
            "city_code": JM,
            "date": "2019-03-01",
            "channel": "collateral_in_second_home",
            "facts": {
                "sponsor_relation_code": "70",
                "sponsor_homes_owned": 2,
                "lives_in_sponsor_home": True,
            },
        }
    )
    assert answer["qualifies"] == ["collateral_in_second_home"]


def test_an_in_law_is_not_a_collateral_relative():
    answer = settlement_precheck(
        {
            "city_code": JM,
            "date": "2019-03-01",
            "channel": "collateral_in_second_home",
            "facts": {
                "sponsor_relation_code": "55",
                "sponsor_homes_owned": 2,
                "lives_in_sponsor_home": True,
            },
        }
    )
    assert answer["channels"][0]["status"] == "unmet"


def test_urban_rural_codes_decide_the_move_into_a_village():
    facts = {
        "sponsor_relation_code": "10",
        "sponsor_hukou_in_city": True,
        "lives_with_sponsor": True,
        "hukou_urban_rural_code": "111",
        "destination_urban_rural_code": "220",
        "urban_side_stable_job": True,
    }
    answer = settlement_precheck({"city_code": QY, "date": "2016-05-01", "facts": facts})
    kinship = next(c for c in answer["channels"] if c["code"] == "kinship")
    assert kinship["status"] == "unmet"
    facts["destination_urban_rural_code"] = "121"  # a town centre: the general channel
    answer = settlement_precheck({"city_code": QY, "date": "2016-05-01", "facts": facts})
    assert "kinship" in answer["qualifies"]


def test_the_needed_fact_names_the_observation_that_establishes_it():
    answer = settlement_precheck(
        {
            "city_code": QY,
            "date": "2016-05-01",
            "channel": "kinship",
            "facts": {
                "sponsor_relation_code": "10",
                "sponsor_hukou_in_city": True,
                "lives_with_sponsor": True,
            },
        }
    )
    channel = answer["channels"][0]
    assert channel["missing"] == ["destination_rural", "hukou_urban"]
    assert channel["observe"] == {
        "destination_rural": "destination_urban_rural_code",
        "hukou_urban": "hukou_urban_rural_code",
    }


@pytest.mark.parametrize(
    ("region", "zone", "qualifies"),
    [
        ("440703001", "core_district", False),
        ("440781", "county_city", True),
        ("441802", None, False),
    ],
)
def test_the_jiangmen_zone_comes_from_the_region_code(region, zone, qualifies):
    facts = {"residence_region_code": region, "residence_kind": "rented"}
    derived = facts_derive(
        facts, {"zones": {"core_district": "", "county_city": ""}, "zone_regions": ZR}
    )
    assert derived["residence_zone"] == (zone or "outside_zones")
    answer = settlement_precheck(
        {"city_code": JM, "date": "2019-03-01", "channel": "stable_home_county", "facts": facts}
    )
    assert (answer["qualifies"] == ["stable_home_county"]) is qualifies


ZR = {"core_district": ["440703", "440704", "440705"], "county_city": ["440781", "440783"]}


@pytest.mark.parametrize(
    ("city", "facts", "fragments"),
    [
        (QY, {"residence_zone": "清城区"}, ["清城区", "central"]),
        ("440200", {"residence_zone": "central"}, ["本市规则未分区域"]),
        (QY, {"sponsor_relation_code": "10", "sponsor_relation": "parent"}, ["矛盾"]),
        (QY, {"destination_urban_rural_code": "999"}, ["destination_urban_rural_code"]),
        (JM, {"residence_region_code": "44abc"}, ["residence_region_code"]),
        (JM, {"residence_region_code": "440703", "residence_zone": "county_city"}, ["矛盾"]),
    ],
)
def test_contradicting_or_unknown_observations_are_refused(city, facts, fragments):
    date = {"440200": "2018-01-01", QY: "2016-05-01", JM: "2019-03-01"}[city]
    with pytest.raises(DomainError) as exc:
        settlement_precheck({"city_code": city, "date": date, "facts": facts})
    assert exc.value.code == "bad_facts"
    for fragment in fragments:
        assert fragment in exc.value.message_zh + exc.value.message_en


def test_evidence_recorded_before_a_fact_was_retired_is_read_without_it():
    from settlement.facts import RecordedEvidence
    from settlement.models import Application, RuleSet

    app = Application(
        rule_set=RuleSet.objects.get(city_code=JM),
        evidence={"homes_owned": 2, "sponsor_relation": "sibling"},
    )
    assert RecordedEvidence().facts_for(application=app) == {"sponsor_relation": "sibling"}
