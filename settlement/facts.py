"""The facts an eligibility decision reads, and where they come from.

A fact is a named, typed value ("social_insurance_months": 12). The catalogue below is the
only vocabulary rule files may use, so a typo in a rule file is refused on load. Today the facts
of an application are evidence an officer records on it (``Application.evidence``, validated
here); department feeds (employment, social insurance, property, degrees, marriages) will
implement ``FactSource`` and be merged in front of the recorded evidence later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from population.errors import DomainError

DEGREES = [
    "none",
    "secondary",
    "technical_secondary",
    "junior_college",
    "bachelor",
    "master",
    "doctor",
]
TITLES = ["none", "junior", "intermediate", "senior"]
SKILLS = ["none", "junior", "intermediate", "senior", "technician", "senior_technician"]
RESIDENCE_KINDS = ["none", "rented_registered", "owned", "self_built", "rented", "lent"]
KIN = [
    "spouse",
    "parent",
    "child",
    "grandparent",
    "grandchild",
    "sibling",
    "other_collateral",
    "in_law",
]


@dataclass(frozen=True)
class FactSpec:
    type: str  # bool | int | number | enum | string
    zh: str
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a string's published form (the service checks the same)

    def json_schema(self) -> dict:
        if self.type == "enum":
            return {"enum": list(self.choices), "description": self.zh}
        kind = {"bool": "boolean", "int": "integer", "number": "number", "string": "string"}
        schema: dict[str, Any] = {"type": kind[self.type], "description": self.zh}
        if self.pattern:
            schema["pattern"] = self.pattern
        if self.type in ("int", "number"):
            schema["minimum"] = 0
        return schema


def _e(zh: str, choices: list[str]) -> FactSpec:
    return FactSpec("enum", zh, tuple(choices))


FACTS: dict[str, FactSpec] = {
    # applicant
    "age": FactSpec("int", "申请人年龄（周岁）"),
    "married": FactSpec("bool", "申请人已婚"),
    "hukou_in_city": FactSpec("bool", "申请人户口已在本市"),
    "rural_hukou_origin": FactSpec("bool", "申请人原籍为农村"),
    "origin_in_city": FactSpec("bool", "申请人原籍在本市"),
    "is_student": FactSpec("bool", "申请人为在校学生"),
    # kinship (投靠)
    "sponsor_relation": _e(
        "被投靠人（或房主）是申请人的（配偶/父母/子女/祖父母/孙子女/兄弟姐妹/其他旁系/姻亲）", KIN
    ),
    "sponsor_hukou_in_city": FactSpec("bool", "被投靠人为本市户口"),
    "sponsor_has_home": FactSpec("bool", "被投靠人在本市有合法固定住所（自有）"),
    "sponsor_has_home_incl_rented": FactSpec("bool", "被投靠人在本市有合法固定住所（含租赁）"),
    "sponsor_is_student": FactSpec("bool", "被投靠人为在校学生"),
    "sponsor_is_minor": FactSpec("bool", "被投靠人（子女）未成年"),
    "lives_with_sponsor": FactSpec("bool", "与被投靠人共同居住生活"),
    "sponsor_homes_owned": FactSpec("int", "被投靠人（房主）在本市拥有住房套数"),
    "lives_in_sponsor_home": FactSpec("bool", "借住被投靠人（房主）的住房（房主不在此居住亦可）"),
    "hukou_urban": FactSpec("bool", "申请人现户口在城镇（按户口所在地城乡划分代码）"),
    "sponsor_hukou_urban": FactSpec("bool", "被投靠人户口在城镇（按户口所在地城乡划分代码）"),
    "destination_rural": FactSpec("bool", "迁入地户口在农村（按迁入户所在地城乡划分代码）"),
    "housing_area_per_person_m2": FactSpec("number", "投靠后人均住房面积（平方米）"),
    # talent and employment
    "degree": _e("最高学历", DEGREES),
    "professional_title": _e("专业技术职称", TITLES),
    "skill_level": _e("职业资格等级", SKILLS),
    "high_level_talent": FactSpec("bool", "经人社部门认定的高层次人才"),
    "job_transfer": FactSpec("bool", "经批准调入或录用（公务员、政府雇员、事业单位职员）"),
    "employed_locally": FactSpec("bool", "在当地合法稳定就业"),
    "employment_months": FactSpec("int", "在当地合法稳定就业月数"),
    "social_insurance_months": FactSpec("int", "在当地参加社会保险月数"),
    "medical_insurance": FactSpec("bool", "在当地参加医疗保险"),
    "returned_overseas_student": FactSpec("bool", "留学回国人员"),
    # home
    "residence_kind": _e("在当地的合法稳定住所", RESIDENCE_KINDS),
    "residence_zone": FactSpec("string", "住所所在区域（按各市规则的区域表）"),
    "owns_residential_home": FactSpec("bool", "购买商品住房或合法自建住宅（非厂房商铺仓库）"),
    "property_certificate": FactSpec("bool", "持房屋产权证或经房管部门认证的购房合同"),
    "landlord_consent": FactSpec("bool", "房屋产权人同意落户"),
    # graduates
    "graduate": FactSpec("bool", "大中专（技校）应届毕业生"),
    "graduate_has_job": FactSpec("bool", "毕业生已落实工作单位"),
    "graduate_papers": FactSpec("bool", "持毕业证、户口迁移证、就业报到证等"),
    # points and permit
    "holds_residence_permit": FactSpec("bool", "持有本市有效居住证"),
    "points": FactSpec("number", "积分"),
    "points_within_quota": FactSpec("bool", "积分排名在年度入户指标内"),
    # military
    "spouse_or_child_of_serviceman": FactSpec("bool", "现役军人的配偶或子女"),
    "not_accompanying_serviceman": FactSpec(
        "bool", "不随军落户（不具备随军落户条件或不愿随军落户）"
    ),
    "lives_with_serviceman_elders": FactSpec("bool", "与现役军人父母或（外）祖父母共同居住"),
    "serviceman_owns_town_home": FactSpec(
        "bool", "申请人是现役军人的直系亲属，实际居住在该军人在城镇购买的合法稳定住所"
    ),
    # urban to rural (城镇迁往农村)
    "urban_side_stable_job": FactSpec("bool", "城镇一方有合法稳定就业"),
    "has_town_residence": FactSpec("bool", "在城镇有合法稳定住所"),
    "village_two_thirds_consent": FactSpec("bool", "迁入地自然村三分之二以上户代表签名同意"),
    "village_committee_consent": FactSpec("bool", "村委会（村民小组）同意迁入证明"),
    "parent_is_head_or_has_homestead": FactSpec(
        "bool", "父（母）为户主或有宅基地使用权和土地承包经营权"
    ),
    "has_homestead_and_land": FactSpec("bool", "在农村有宅基地使用权和土地承包经营权"),
    "lives_in_village": FactSpec("bool", "实际居住生活在农村"),
    "family_land_rights_at_origin": FactSpec(
        "bool", "本人或家庭成员在原籍有土地承包经营权、宅基地使用权"
    ),
}


# Display labels of the enum values (officers never read the codes).
VALUE_LABELS: dict[str, dict[str, str]] = {
    "degree": {
        "none": "无学历",
        "secondary": "高中",
        "technical_secondary": "中专（技校）",
        "junior_college": "大专",
        "bachelor": "本科",
        "master": "硕士研究生",
        "doctor": "博士研究生",
    },
    "professional_title": {
        "none": "无",
        "junior": "初级职称",
        "intermediate": "中级职称",
        "senior": "高级职称",
    },
    "skill_level": {
        "none": "无",
        "junior": "初级工",
        "intermediate": "中级工",
        "senior": "高级工",
        "technician": "技师",
        "senior_technician": "高级技师",
    },
    "residence_kind": {
        "none": "无",
        "rented_registered": "登记备案的租赁住房",
        "owned": "自有住房",
        "self_built": "合法自建住宅",
        "rented": "合法租赁住房（未登记备案）",
        "lent": "借住他人住房",
    },
    "sponsor_relation": {
        "spouse": "配偶",
        "parent": "父母",
        "child": "子女",
        "grandparent": "祖父母、外祖父母",
        "grandchild": "孙子女、外孙子女",
        "sibling": "兄弟姐妹",
        "other_collateral": "其他旁系亲属（伯叔姑舅姨、侄甥、堂表兄弟姐妹）",
        "in_law": "姻亲（配偶的父母、子女的配偶、兄弟姐妹的配偶等）",
    },
}


# 国家统计局 城乡划分代码 (population.models.UrbanRuralCode), as the observations show them.
_URBAN_RURAL_ZH = {
    "111": "111 主城区",
    "112": "112 城乡结合区",
    "121": "121 镇中心区",
    "122": "122 镇乡结合区",
    "123": "123 特殊区域",
    "210": "210 乡中心区",
    "220": "220 村庄",
}
for _name in ("hukou_urban_rural_code", "sponsor_hukou_urban_rural_code",
              "destination_urban_rural_code"):  # fmt: skip
    VALUE_LABELS[_name] = _URBAN_RURAL_ZH


def fact_label(name: str) -> str:
    """The Chinese name of a fact (the code name if the catalogue lacks it)."""
    spec = FACTS.get(name)
    return spec.zh if spec else name


def fact_value_label(name: str, value: Any, *, zones: dict[str, str] | None = None) -> str:
    """A fact's value as an officer reads it: 是/否, 本科, the zone's name, 未提供."""
    if value is None:
        return "未提供"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(fact_value_label(name, v, zones=zones) for v in value)
    if name == "residence_zone" and zones:
        return zones.get(value, value)
    labels = VALUE_LABELS.get(name)
    if labels:
        return labels.get(value, value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def facts_json_schema() -> dict:
    """The JSON schema of a facts object (documented in docs/settlement.md)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "落户事实 / settlement facts",
        "type": "object",
        "additionalProperties": False,
        "properties": {name: spec.json_schema() for name, spec in FACTS.items()},
    }


def _type_ok(spec: FactSpec, value: Any) -> bool:
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if spec.type == "number":
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
    if spec.type == "enum":
        return value in spec.choices
    return isinstance(value, str) and bool(value.strip())


# Facts that are no longer the applicant's to state, and where their content went now.
RETIRED: dict[str, tuple[str, str]] = {
    "housing_hardship_standard_m2": (
        "已改为规则集常量 constants.housing_hardship_standard_m2，申请人不再填写，请删去",
        "now the rule set's constant constants.housing_hardship_standard_m2; remove it",
    ),
    "homes_owned": (
        "请改填 sponsor_homes_owned（房主在本市拥有住房套数）",
        "use sponsor_homes_owned (homes the owner has in the city)",
    ),
}

_MAX_PROBLEMS = 10


def facts_validate(facts: Any) -> dict[str, Any]:
    """Return the facts if every name is known and every value has its type; refuse otherwise.

    ``null`` means "not known" and is dropped, as is an absent name.
    """
    if not isinstance(facts, dict):
        raise DomainError("事实须为 JSON 对象", "facts must be a JSON object", code="bad_facts")
    problems = []
    clean = {}
    for name, value in facts.items():
        spec = FACTS.get(name)
        if name in RETIRED:
            zh, en = RETIRED[name]
            problems.append(f"{name}: {zh} / {en}")
        elif spec is None:
            problems.append(f"{str(name)[:64]}: 未知事实 / unknown fact")
        elif value is None:
            continue
        elif not _type_ok(spec, value):
            expected = "|".join(spec.choices) if spec.type == "enum" else spec.type
            problems.append(f"{name}: 应为 {expected} / must be {expected}, got {repr(value)[:64]}")
        else:
            clean[name] = value
    if problems:
        # A bounded echo: the first few problems and how many more (never the whole input).
        shown = problems[:_MAX_PROBLEMS]
        if len(problems) > _MAX_PROBLEMS:
            shown.append(f"… (+{len(problems) - _MAX_PROBLEMS})")
        raise DomainError(
            "事实有误：" + "；".join(shown),
            "bad facts: " + "; ".join(shown),
            code="bad_facts",
        )
    return clean


# -- observations and what they establish ----------------------------------------------------
# An applicant or officer states what can be observed and proved (a GB/T 4761 relation code,
# an urban-rural code from the register, a region code); the categories the rules read are
# derived from them here, never typed as legal conclusions where an observation exists.

URBAN_RURAL = {"111", "112", "121", "122", "123", "210", "220"}
# Published patterns, checked by the service with the same expressions (ASCII digits only).
_URBAN_RURAL_PATTERN = "^(" + "|".join(sorted(URBAN_RURAL)) + r")\Z"
RELATION_CODE_PATTERN = r"^[0-9]{2}\Z"
REGION_CODE_PATTERN = r"^[0-9]{6,12}\Z"
OBSERVATIONS: dict[str, FactSpec] = {
    "sponsor_relation_code": FactSpec(
        "string",
        "被投靠人（或房主）是申请人的何种亲属：GB/T 4761 家庭关系代码（如 10 配偶、70 兄弟姐妹）",
        pattern=RELATION_CODE_PATTERN,
    ),
    "hukou_urban_rural_code": FactSpec(
        "string", "申请人户口所在地的城乡划分代码（111…220）", pattern=_URBAN_RURAL_PATTERN
    ),
    "sponsor_hukou_urban_rural_code": FactSpec(
        "string", "被投靠人户口所在地的城乡划分代码", pattern=_URBAN_RURAL_PATTERN
    ),
    "destination_urban_rural_code": FactSpec(
        "string", "迁入户所在地的城乡划分代码", pattern=_URBAN_RURAL_PATTERN
    ),
    "residence_region_code": FactSpec(
        "string", "住所所在地的区划代码（6–12位）", pattern=REGION_CODE_PATTERN
    ),
}
FACTS.update(OBSERVATIONS)
# which fact each observation establishes (shown beside a needed fact in every answer)
ESTABLISHES = {
    "sponsor_relation_code": "sponsor_relation",
    "hukou_urban_rural_code": "hukou_urban",
    "sponsor_hukou_urban_rural_code": "sponsor_hukou_urban",
    "destination_urban_rural_code": "destination_rural",
    "residence_region_code": "residence_zone",
}
OBSERVED_BY = {fact: obs for obs, fact in ESTABLISHES.items()}


def relation_category(code: str) -> str | None:
    """The kinship category of a GB/T 4761 code naming what the sponsor is to the applicant;
    None for codes that name no kin the documents speak of (80 其他, 97 其他亲属, 99 非亲属)."""
    if not (len(code) == 2 and code.isdigit()):
        return None
    n = int(code)
    if 10 <= n <= 12:
        return "spouse"
    if n in (28, 38) or 53 <= n <= 56:
        return "in_law"
    if 20 <= n <= 39:
        return "child"
    if 40 <= n <= 49:
        return "grandchild"
    if 50 <= n <= 52:
        return "parent"
    if 60 <= n <= 69:
        return "grandparent"
    if 70 <= n <= 79:
        return "sibling"
    return None


def region_urban_rural_code(region_id: str | None, *, on: Any) -> str | None:
    """The register's urban-rural code (城乡划分代码) of a village-level unit on a day: the
    latest classification year not after ``on``, else the earliest one on file; None when the
    unit has none."""
    if not region_id:
        return None
    from population.models import RegionUrbanRural

    rows = RegionUrbanRural.objects.filter(region_id=region_id)
    code = rows.filter(year__lte=on.year).order_by("-year").values_list("code", flat=True).first()
    return code or rows.order_by("year").values_list("code", flat=True).first()


def _zone_of(region: str, content: dict) -> str | None:
    best = None
    for zone, prefixes in content.get("zone_regions", {}).items():
        for prefix in prefixes:
            if region.startswith(prefix) and (best is None or len(prefix) > len(best[1])):
                best = (zone, prefix)
    return best[0] if best else None


def facts_derive(facts: dict[str, Any], content: dict) -> dict[str, Any]:
    """The facts the rules read, with every category an observation establishes derived from
    it; a typed category that contradicts its observation, an unknown code, or a zone not in
    the rule set's zone table is refused (bad_facts), naming both."""
    out = dict(facts)
    problems = []

    def settle(obs: str, derived: Any) -> None:
        fact = ESTABLISHES[obs]
        if derived is None:
            return
        if fact in facts and facts[fact] != derived:
            problems.append(
                f"{fact}={facts[fact]!r} 与 {obs}={facts[obs]!r} 矛盾 / contradicts {obs}"
            )
        out[fact] = derived

    code = facts.get("sponsor_relation_code")
    if code is not None:
        valid = isinstance(code, str) and re.match(RELATION_CODE_PATTERN, code) is not None
        if not valid:
            problems.append("sponsor_relation_code: 须为2位 GB/T 4761 代码 / a 2-digit code")
        settle("sponsor_relation_code", relation_category(code))
    for obs in ("hukou_urban_rural_code", "sponsor_hukou_urban_rural_code",
                "destination_urban_rural_code"):  # fmt: skip
        value = facts.get(obs)
        if value is None:
            continue
        if value not in URBAN_RURAL:
            problems.append(f"{obs}: 城乡划分代码须为 {sorted(URBAN_RURAL)} 之一 / unknown code")
            continue
        urban = value.startswith("1")
        settle(obs, (not urban) if obs == "destination_urban_rural_code" else urban)
    region = facts.get("residence_region_code")
    if region is not None:
        if re.match(REGION_CODE_PATTERN, region) is None:
            problems.append("residence_region_code: 须为6–12位区划代码 / 6–12 digits")
        elif content.get("zone_regions"):
            settle("residence_region_code", _zone_of(region, content) or "outside_zones")
    zones = content.get("zones", {})
    zone = out.get("residence_zone")
    if zone is not None and zone != "outside_zones" and zone not in zones:
        listed = "、".join(f"{k}（{v}）" for k, v in zones.items()) or "本市规则未分区域"
        problems.append(
            f"residence_zone: {str(zone)[:32]!r} 不在本市规则的区域表中（{listed}）/ "
            f"not a zone of this rule set ({', '.join(zones) or 'none'})"
        )
    if problems:
        raise DomainError(
            "事实有误：" + "；".join(problems),
            "bad facts: " + "; ".join(problems),
            code="bad_facts",
        )
    return out


class FactSource(Protocol):
    """Anything that can say what is known about an applicant on a day (department feeds)."""

    def facts_for(self, *, application: Any) -> dict[str, Any]: ...


class RecordedEvidence:
    """The facts recorded on the application itself (today the only source)."""

    def facts_for(self, *, application: Any) -> dict[str, Any]:
        # Evidence recorded before a fact was retired is read without it (the rules no
        # longer read it; the channel then asks for its replacement) instead of refused.
        evidence = {k: v for k, v in (application.evidence or {}).items() if k not in RETIRED}
        return facts_validate(evidence)


def facts_gather(*, application: Any, sources: list[FactSource] | None = None) -> dict[str, Any]:
    """Merge sources in order; a later source fills only what earlier ones left unknown."""
    merged: dict[str, Any] = {}
    for source in sources or [RecordedEvidence()]:
        for name, value in source.facts_for(application=application).items():
            merged.setdefault(name, value)
    return merged


class ResidencePermitFacts:
    """What the residence-permit app knows: whether the applicant holds a live permit.

    Points and the quota ranking (广州 积分入户) are still recorded as evidence; reading them from
    ``residence_permit.points.points_ranking`` is the next source to add here.
    """

    def facts_for(self, *, application: Any) -> dict[str, Any]:
        from population.models import Person
        from residence_permit.models import PermitStatus
        from residence_permit.selectors import permit_live_for

        person = Person.objects.filter(citizen_id=application.citizen_id).first()
        if person is None:
            return {}
        permit = permit_live_for(person=person)
        return {
            "holds_residence_permit": permit is not None and permit.status == PermitStatus.ACTIVE
        }


class PersonRecordFacts:
    """What the population register says of an applicant already on file: age on the
    submission date (today before submission) and whether their hukou is in the city."""

    def facts_for(self, *, application: Any) -> dict[str, Any]:
        from django.utils import timezone

        from population.models import Person

        person = (
            Person.objects.filter(citizen_id=application.citizen_id)
            .only("birth_date", "hukou_region_id")
            .first()
        )
        if person is None:
            return {}
        on = application.submitted_on or timezone.localdate()
        born = person.birth_date
        age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        city = application.rule_set.city_code[:4]
        return {
            "age": max(age, 0),
            "hukou_in_city": bool(person.hukou_region_id)
            and person.hukou_region_id.startswith(city),
        }
