"""The facts an eligibility decision reads, and where they come from.

A fact is a named, typed value ("social_insurance_months": 12). The catalogue below is the
only vocabulary rule files may use, so a typo in a rule file is refused on load. Today the facts
of an application are evidence an officer records on it (``Application.evidence``, validated
here); department feeds (employment, social insurance, property, degrees, marriages) will
implement ``FactProvider`` and be merged in front of the recorded evidence later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

from population.clock import today
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

KIN = [
    "spouse",
    "parent",
    "child",
    "grandparent",
    "grandchild",
    "sibling",
    "other_collateral",
    "in_law",
    "none",
]


PROPERTY_OWNERS = ["applicant", "spouse", "sponsor", "other"]
PROPERTY_USES = ["residential", "shop", "factory", "other"]
INSURANCE_KINDS = ["pension", "medical", "other"]
INSURANCE_TYPES = ["urban_employee", "urban_rural_resident"]
ACCOMPANY = ["accompanying", "not_accompanying"]
FACTS_VERSION = 2  # the shape of ``facts`` a request states (docs/settlement.md)
MAX_RECORDS = 20


@dataclass(frozen=True)
class FactSpec:
    type: str  # bool | int | number | enum | string | records
    zh: str
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a string's published form (the service checks the same)
    fields: tuple[tuple[str, FactSpec], ...] = ()  # a record's fields (type "records")

    def json_schema(self) -> dict:
        if self.type == "enum":
            return {"enum": list(self.choices), "description": self.zh}
        if self.type == "records":
            return {
                "type": "array",
                "description": self.zh,
                "maxItems": MAX_RECORDS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [name for name, _ in self.fields],
                    "properties": {name: spec.json_schema() for name, spec in self.fields},
                },
            }
        kind = {"bool": "boolean", "int": "integer", "number": "number", "string": "string"}
        schema: dict[str, Any] = {"type": kind[self.type], "description": self.zh}
        if self.pattern:
            schema["pattern"] = self.pattern
        if self.type in ("int", "number"):
            schema["minimum"] = 0
        return schema


def _e(zh: str, choices: list[str]) -> FactSpec:
    return FactSpec("enum", zh, tuple(choices))


URBAN_RURAL = {"111", "112", "121", "122", "123", "210", "220"}
# Published patterns, checked by the service with the same expressions (ASCII digits only).
_URBAN_RURAL_PATTERN = "^(" + "|".join(sorted(URBAN_RURAL)) + r")\Z"
RELATION_CODE_PATTERN = r"^[0-9]{2}\Z"
REGION_CODE_PATTERN = r"^[0-9]{6,12}\Z"

PROPERTY = FactSpec(
    "records",
    "本市的房产记录（不动产登记或购房合同），每套一条：owner 产权人（applicant 申请人本人 / spouse "
    "配偶 / sponsor 被投靠人（房主）/ other 他人），use 用途（residential 住宅 / shop 商铺 / "
    "factory 厂房 / other 其他），area_m2 建筑面积（平方米），registered 已登记（持不动产权证或"
    "房屋产权证，或经房管部门认证的购房合同）",
    fields=(
        ("owner", _e("产权人", PROPERTY_OWNERS)),
        ("use", _e("用途", PROPERTY_USES)),
        ("area_m2", FactSpec("number", "建筑面积（平方米）")),
        ("registered", FactSpec("bool", "已登记（持不动产权证或经认证的购房合同）")),
    ),
)
INSURANCE = FactSpec(
    "records",
    "社会保险参保记录，每个险种一条：kind 险种（pension 养老 / medical 医疗 / other 失业、工伤、"
    "生育），type 参保类型（urban_employee 城镇职工 / urban_rural_resident 城乡居民），"
    "region_code 参保地区划代码，months 在该地累计缴费月数",
    fields=(
        ("kind", _e("险种", INSURANCE_KINDS)),
        ("type", _e("参保类型", INSURANCE_TYPES)),
        ("region_code", FactSpec("string", "参保地区划代码", pattern=REGION_CODE_PATTERN)),
        ("months", FactSpec("int", "在该地累计缴费月数")),
    ),
)

# What a request states (schema version 2): things an applicant or officer can observe and a
# document can prove. Categories the rules read are derived from these (``DERIVED``).
INPUTS: dict[str, FactSpec] = {
    # applicant
    "age": FactSpec("int", "申请人年龄（周岁）"),
    "married": FactSpec("bool", "申请人已婚"),
    "hukou_in_city": FactSpec("bool", "申请人户口已在本市"),
    "rural_hukou_origin": FactSpec("bool", "申请人原籍为农村"),
    "origin_in_city": FactSpec("bool", "申请人原籍在本市"),
    "is_student": FactSpec("bool", "申请人为在校学生"),
    "hukou_urban_rural_code": FactSpec(
        "string", "申请人户口所在地的城乡划分代码（111…220）", pattern=_URBAN_RURAL_PATTERN
    ),
    # kinship (投靠)
    "sponsor_relation_code": FactSpec(
        "string",
        "被投靠人（或房主）是申请人的何种亲属：GB/T 4761 家庭关系代码（如 10 配偶、70 兄弟姐妹）",
        pattern=RELATION_CODE_PATTERN,
    ),
    "sponsor_hukou_in_city": FactSpec("bool", "被投靠人为本市户口"),
    "sponsor_hukou_urban_rural_code": FactSpec(
        "string", "被投靠人户口所在地的城乡划分代码", pattern=_URBAN_RURAL_PATTERN
    ),
    "sponsor_is_student": FactSpec("bool", "被投靠人为在校学生"),
    "sponsor_is_minor": FactSpec("bool", "被投靠人（子女）未成年"),
    "sponsor_rents_home": FactSpec("bool", "被投靠人在本市租住合法租赁住房（有租赁合同）"),
    "lives_with_sponsor": FactSpec("bool", "与被投靠人共同居住生活"),
    "lives_in_sponsor_home": FactSpec("bool", "借住被投靠人（房主）的住房（房主不在此居住亦可）"),
    "household_persons": FactSpec("int", "投靠后该住房共同居住的人数（含申请人）"),
    "destination_urban_rural_code": FactSpec(
        "string", "迁入户所在地的城乡划分代码", pattern=_URBAN_RURAL_PATTERN
    ),
    # home
    "properties": PROPERTY,
    "rents_home": FactSpec("bool", "申请人在当地租住合法租赁住房（有书面租赁合同）"),
    "rental_registered": FactSpec("bool", "该租赁已在房管部门登记备案"),
    "landlord_consent": FactSpec("bool", "房屋产权人同意落户"),
    "residence_region_code": FactSpec(
        "string",
        "实际居住地址所在的区划代码（6–12位，村（居）或乡镇街道）",
        pattern=REGION_CODE_PATTERN,
    ),
    # talent, employment and insurance
    "degree": _e("最高学历", DEGREES),
    "professional_title": _e("专业技术职称", TITLES),
    "skill_level": _e("职业资格等级", SKILLS),
    "high_level_talent": FactSpec("bool", "经人社部门认定的高层次人才"),
    "job_transfer": FactSpec("bool", "经批准调入或录用（公务员、政府雇员、事业单位职员）"),
    "employment_region_code": FactSpec(
        "string", "就业单位（或经营场所）所在的区划代码", pattern=REGION_CODE_PATTERN
    ),
    "employment_months": FactSpec("int", "在该地连续就业月数（无就业填 0）"),
    "insurance": INSURANCE,
    "returned_overseas_student": FactSpec("bool", "留学回国人员"),
    # graduates
    "graduate": FactSpec("bool", "大中专（技校）应届毕业生"),
    "graduate_has_job": FactSpec("bool", "毕业生已落实工作单位"),
    "graduate_papers": FactSpec("bool", "持毕业证、户口迁移证、就业报到证等"),
    # points and permit
    "holds_residence_permit": FactSpec("bool", "持有本市有效居住证"),
    "points": FactSpec("number", "积分"),
    "points_within_quota": FactSpec("bool", "积分排名在年度入户指标内"),
    # military
    "serviceman_relation_code": FactSpec(
        "string",
        "现役军人是申请人的何种亲属：GB/T 4761 家庭关系代码（如 10 配偶、51 父亲）",
        pattern=RELATION_CODE_PATTERN,
    ),
    "serviceman_active": FactSpec("bool", "该军人现役"),
    "military_accompany": _e("随军落户情况（随军 / 不随军）", ACCOMPANY),
    "lives_with_serviceman_elders": FactSpec("bool", "与现役军人父母或（外）祖父母共同居住"),
    "lives_in_serviceman_town_home": FactSpec("bool", "实际居住在该现役军人在城镇购买的住房"),
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

# What the rules read that is derived, never stated: name → (spec, the inputs it comes from).
DERIVED_FROM: dict[str, tuple[FactSpec, tuple[str, ...]]] = {
    "sponsor_relation": (
        _e("被投靠人（或房主）是申请人的（按家庭关系代码）", KIN),
        ("sponsor_relation_code",),
    ),
    "hukou_urban": (
        FactSpec("bool", "申请人户口在城镇（按城乡划分代码）"),
        ("hukou_urban_rural_code",),
    ),
    "sponsor_hukou_urban": (
        FactSpec("bool", "被投靠人户口在城镇（按城乡划分代码）"),
        ("sponsor_hukou_urban_rural_code",),
    ),
    "destination_rural": (
        FactSpec("bool", "迁入户在农村（按城乡划分代码）"),
        ("destination_urban_rural_code",),
    ),
    "residence_zone": (
        FactSpec("string", "住所所在区域（由区划代码按本市规则的区域表得出）"),
        ("residence_region_code",),
    ),
    "employment_zone": (
        FactSpec("string", "就业地所在区域（由区划代码按本市规则的区域表得出）"),
        ("employment_region_code", "employment_months"),
    ),
    "employed_locally": (
        FactSpec("bool", "在本市就业（就业地在本市且就业月数大于0）"),
        ("employment_region_code", "employment_months"),
    ),
    "owns_home": (
        FactSpec("bool", "申请人或配偶在本市有住宅（房产记录用途为住宅）"),
        ("properties",),
    ),
    "bought_home": (FactSpec("bool", "申请人本人在本市有住宅（非厂房、商铺等）"), ("properties",)),
    "bought_registered_home": (
        FactSpec("bool", "申请人本人的住宅已登记（持房屋产权证或经认证的购房合同）"),
        ("properties",),
    ),
    "sponsor_owns_home": (
        FactSpec("bool", "被投靠人（房主）在本市有住宅"),
        ("properties", "sponsor_relation_code"),
    ),
    "sponsor_homes_owned": (
        FactSpec("int", "被投靠人（房主）在本市的住宅套数"),
        ("properties", "sponsor_relation_code"),
    ),
    "housing_area_per_person_m2": (
        FactSpec("number", "投靠后人均住房面积（被投靠人住宅面积 ÷ 共同居住人数）"),
        ("properties", "household_persons", "sponsor_relation_code"),
    ),
    "social_insurance_months": (
        FactSpec("int", "在本市参加社会保险月数（任一险种、任一类型的最长者）"),
        ("insurance",),
    ),
    "employee_insurance_months": (
        FactSpec("int", "在本市参加城镇职工社会保险月数"),
        ("insurance",),
    ),
    "medical_insurance": (
        FactSpec("bool", "在本市参加医疗保险（城镇职工或城乡居民）"),
        ("insurance",),
    ),
    "serviceman_relation": (
        _e("现役军人是申请人的（按家庭关系代码）", KIN),
        ("serviceman_relation_code",),
    ),
}
DERIVED = {name: spec for name, (spec, _) in DERIVED_FROM.items()}
# The rule vocabulary: what a condition may read.
FACTS: dict[str, FactSpec] = {**INPUTS, **DERIVED}


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
    "sponsor_relation": {
        "spouse": "配偶",
        "parent": "父母",
        "child": "子女",
        "grandparent": "祖父母、外祖父母",
        "grandchild": "孙子女、外孙子女",
        "sibling": "兄弟姐妹",
        "other_collateral": "其他旁系亲属（伯叔姑舅姨、侄甥、堂表兄弟姐妹）",
        "in_law": "姻亲（配偶的父母、子女的配偶、兄弟姐妹的配偶等）",
        "none": "其他亲属或非亲属（文件未列）",
    },
    "owner": {
        "applicant": "申请人本人",
        "spouse": "配偶",
        "sponsor": "被投靠人（房主）",
        "other": "他人",
    },
    "use": {"residential": "住宅", "shop": "商铺", "factory": "厂房", "other": "其他"},
    "kind": {"pension": "养老保险", "medical": "医疗保险", "other": "失业、工伤或生育保险"},
    "type": {"urban_employee": "城镇职工", "urban_rural_resident": "城乡居民"},
    "military_accompany": {"accompanying": "随军", "not_accompanying": "不随军"},
}
VALUE_LABELS["serviceman_relation"] = VALUE_LABELS["sponsor_relation"]


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
    return spec.zh.split("：")[0] if spec else name


def fact_value_label(name: str, value: Any, *, zones: dict[str, str] | None = None) -> str:
    """A fact's value as an officer reads it: 是/否, 本科, the zone's name, 未提供; a record
    list as one line per record (住宅 120㎡ 申请人本人 已登记)."""
    if value is None:
        return "未提供"
    if isinstance(value, bool):
        return "是" if value else "否"
    spec = FACTS.get(name)
    if spec is not None and spec.type == "records":
        if not value:
            return "无"
        return "；".join(_record_label(name, r) for r in value)
    if isinstance(value, list):
        return "、".join(fact_value_label(name, v, zones=zones) for v in value)
    if name in ("residence_zone", "employment_zone") and zones:
        return zones.get(value, "不在本市规则的区域表内" if value == OUTSIDE else value)
    labels = VALUE_LABELS.get(name)
    if labels:
        return labels.get(value, value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _record_label(name: str, record: dict) -> str:
    if name == "properties":
        return (
            f"{VALUE_LABELS['use'].get(record['use'], record['use'])} "
            f"{fact_value_label('area_m2', record['area_m2'])}㎡ "
            f"{VALUE_LABELS['owner'].get(record['owner'], record['owner'])}"
            f"{'，已登记' if record['registered'] else '，未登记'}"
        )
    return (
        f"{VALUE_LABELS['type'].get(record['type'], record['type'])}"
        f"{VALUE_LABELS['kind'].get(record['kind'], record['kind'])} "
        f"参保地 {record['region_code']} {record['months']}个月"
    )


def facts_json_schema() -> dict:
    """The JSON schema of a facts object (documented in docs/settlement.md)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"落户事实 / settlement facts (version {FACTS_VERSION})",
        "type": "object",
        "additionalProperties": False,
        "properties": {name: spec.json_schema() for name, spec in INPUTS.items()},
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
        return isinstance(value, str) and value in spec.choices
    if spec.type == "records":
        names = {n for n, _ in spec.fields}
        return (
            isinstance(value, list)
            and len(value) <= MAX_RECORDS
            and all(
                isinstance(r, dict)
                and set(r) == names
                and all(_type_ok(f, r[n]) for n, f in spec.fields)
                for r in value
            )
        )
    if spec.pattern:
        return isinstance(value, str) and re.match(spec.pattern, value) is not None
    return isinstance(value, str) and bool(value.strip())


def _expected(spec: FactSpec) -> str:
    if spec.type == "enum":
        return "|".join(spec.choices)
    if spec.type == "records":
        inner = ", ".join(f"{n}: {_expected(f)}" for n, f in spec.fields)
        return f"[{{{inner}}}] (≤{MAX_RECORDS})"
    if spec.pattern:
        return f"string {spec.pattern}"
    return spec.type


# Facts of the old shape (version 1) and the fields that replaced them. A request that states
# one is refused, naming the new field, in Chinese and English.
RETIRED: dict[str, tuple[str, str]] = {
    "housing_hardship_standard_m2": (
        "已改为规则集常量 constants.housing_hardship_standard_m2，申请人不再填写，请删去",
        "now the rule set's constant constants.housing_hardship_standard_m2; remove it",
    ),
    "homes_owned": (
        "请改填 properties（房产记录，owner=sponsor 为房主的住房）",
        "state properties (property records; owner=sponsor for the owner's homes)",
    ),
    "sponsor_homes_owned": (
        "请改填 properties（每套一条，owner=sponsor）",
        "state properties (one record per property, owner=sponsor)",
    ),
    "owns_residential_home": (
        "请改填 properties（产权人 owner、用途 use=residential/shop/factory/other）",
        "state properties (owner, use=residential/shop/factory/other)",
    ),
    "property_certificate": (
        "请改填 properties[].registered（该房产是否已登记）",
        "state properties[].registered (whether the property is registered)",
    ),
    "sponsor_has_home": (
        "请改填 properties（owner=sponsor 的住宅）",
        "state properties (a residential record with owner=sponsor)",
    ),
    "sponsor_has_home_incl_rented": (
        "请改填 properties（owner=sponsor 的住宅）和 sponsor_rents_home",
        "state properties (owner=sponsor) and sponsor_rents_home",
    ),
    "residence_kind": (
        "请改填 properties（自有住宅）、rents_home 和 rental_registered（租赁及是否备案）",
        "state properties (own home), rents_home and rental_registered (rental, filed or not)",
    ),
    "residence_zone": (
        "请改填 residence_region_code（住址的区划代码），区域由本市规则的区域表得出",
        "state residence_region_code; the zone comes from the rule set's zone table",
    ),
    "employed_locally": (
        "请改填 employment_region_code（就业地区划代码）和 employment_months",
        "state employment_region_code and employment_months",
    ),
    "social_insurance_months": (
        "请改填 insurance（参保记录：险种、类型、参保地、月数）",
        "state insurance (records: kind, type, region_code, months)",
    ),
    "medical_insurance": (
        "请改填 insurance（kind=medical 的参保记录）",
        "state insurance (a record with kind=medical)",
    ),
    "spouse_or_child_of_serviceman": (
        "请改填 serviceman_relation_code（军人是申请人的何种亲属）和 serviceman_active（现役）",
        "state serviceman_relation_code and serviceman_active",
    ),
    "not_accompanying_serviceman": (
        "请改填 military_accompany（accompanying 随军 / not_accompanying 不随军）",
        "state military_accompany (accompanying / not_accompanying)",
    ),
    "serviceman_owns_town_home": (
        "请改填 serviceman_relation_code、serviceman_active 和 lives_in_serviceman_town_home",
        "state serviceman_relation_code, serviceman_active and lives_in_serviceman_town_home",
    ),
}
for _name, (_spec, _inputs) in DERIVED_FROM.items():
    if _name not in RETIRED:
        _new = "、".join(_inputs)
        RETIRED[_name] = (
            f"由 {_new} 得出，不能直接填写，请改填 {_new}",
            f"derived from {', '.join(_inputs)}; state {', '.join(_inputs)} instead",
        )

_MAX_PROBLEMS = 10


def facts_validate(facts: Any) -> dict[str, Any]:
    """Return the facts if every name is a fact of the current shape and every value has its
    type; refuse otherwise (a fact of the old shape names the field that replaced it).

    ``null`` means "not known" and is dropped, as is an absent name.
    """
    if not isinstance(facts, dict):
        raise DomainError("事实须为 JSON 对象", "facts must be a JSON object", code="bad_facts")
    problems = []
    clean = {}
    for name, value in facts.items():
        spec = INPUTS.get(name)
        if name in RETIRED:
            zh, en = RETIRED[name]
            problems.append(f"{name}: {zh} / {en}")
        elif spec is None:
            problems.append(f"{str(name)[:64]}: 未知事实 / unknown fact")
        elif value is None:
            continue
        elif not _type_ok(spec, value):
            expected = _expected(spec)
            problems.append(f"{name}: 应为 {expected} / must be {expected}, got {repr(value)[:64]}")
        else:
            clean[name] = value
    if problems:
        # A bounded echo: the first few problems and how many more (never the whole input).
        shown = problems[:_MAX_PROBLEMS]
        if len(problems) > _MAX_PROBLEMS:
            shown.append(f"… (+{len(problems) - _MAX_PROBLEMS})")
        raise DomainError(
            f"事实有误（事实格式第{FACTS_VERSION}版）：" + "；".join(shown),
            f"bad facts (facts version {FACTS_VERSION}): " + "; ".join(shown),
            code="bad_facts",
        )
    return clean


def facts_to_state(names: list[str], facts: dict[str, Any]) -> list[str]:
    """The facts a request states that could settle the given rule facts: a derived one is
    asked as the inputs it comes from that are not yet known, in order, once each."""
    out: list[str] = []
    for name in names:
        inputs = DERIVED_FROM[name][1] if name in DERIVED_FROM else (name,)
        out += [i for i in inputs if i not in facts]
    return list(dict.fromkeys(out))


# -- observations and what they establish ----------------------------------------------------
# An applicant or officer states what can be observed and proved (a GB/T 4761 relation code,
# an urban-rural code from the register, a region code, property and insurance records); the
# categories the rules read are derived from them here, never typed.

OUTSIDE = "outside_zones"
LINEAL = ("spouse", "parent", "child", "grandparent", "grandchild")


def relation_category(code: str) -> str | None:
    """The kinship category of a GB/T 4761 code naming what the sponsor is to the applicant;
    ``none`` for codes that name no kin the documents speak of (80 其他, 97 其他亲属, 99 非亲属,
    and the unassigned ones); None for what is not a 2-digit code."""
    if not (isinstance(code, str) and len(code) == 2 and code.isdigit()):
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
    if 81 <= n <= 96:  # 伯叔姑舅姨及其配偶、堂表兄弟姐妹、侄甥 (GB/T 4761-2008)
        return "other_collateral"
    return "none"


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


def zone_of(region: str, content: dict) -> str | None:
    """The zone of a region code by the rule set's own zone table (longest prefix wins);
    ``outside_zones`` when no zone covers it; None when the rule set has no zone table."""
    if not content.get("zone_regions"):
        return None
    best = None
    for zone, prefixes in content["zone_regions"].items():
        for prefix in prefixes:
            if region.startswith(prefix) and (best is None or len(prefix) > len(best[1])):
                best = (zone, prefix)
    return best[0] if best else OUTSIDE


def _in_city(region: str, content: dict) -> bool:
    return region.startswith(content["city_code"][:4])


def _derive_property(facts: dict, out: dict) -> None:
    records = facts.get("properties")
    if records is None:
        return
    homes = [r for r in records if r["use"] == "residential"]
    out["owns_home"] = any(r["owner"] in ("applicant", "spouse") for r in homes)
    out["bought_home"] = any(r["owner"] == "applicant" for r in homes)
    out["bought_registered_home"] = any(
        r["owner"] == "applicant" and r["registered"] for r in homes
    )
    code = facts.get("sponsor_relation_code")
    # The sponsor's homes: owner=sponsor, and owner=spouse when the sponsor is the spouse (not
    # known while a spouse's home is on the list and the relation is not).
    owners = {"sponsor", "spouse"} if relation_category(code or "") == "spouse" else {"sponsor"}
    if code is not None or all(r["owner"] != "spouse" for r in homes):
        sponsor_homes = [r for r in homes if r["owner"] in owners]
        out["sponsor_owns_home"] = bool(sponsor_homes)
        out["sponsor_homes_owned"] = len(sponsor_homes)
        persons = facts.get("household_persons")
        if persons:
            area = sum(r["area_m2"] for r in sponsor_homes)
            out["housing_area_per_person_m2"] = round(area / persons, 2)


def _derive_insurance(facts: dict, out: dict, content: dict) -> None:
    records = facts.get("insurance")
    if records is None:
        return
    local = [r for r in records if _in_city(r["region_code"], content) and r["months"] > 0]
    out["social_insurance_months"] = max((r["months"] for r in local), default=0)
    out["employee_insurance_months"] = max(
        (r["months"] for r in local if r["type"] == "urban_employee"), default=0
    )
    out["medical_insurance"] = any(r["kind"] == "medical" for r in local)


def _derive_employment(facts: dict, out: dict, content: dict) -> None:
    months = facts.get("employment_months")
    region = facts.get("employment_region_code")
    if months == 0:
        out["employed_locally"] = False
        if content.get("zone_regions"):
            out["employment_zone"] = OUTSIDE
        return
    if region is None:
        return
    out["employed_locally"] = _in_city(region, content)
    zone = zone_of(region, content)
    if zone is not None:
        out["employment_zone"] = zone


def facts_derive(facts: dict[str, Any], content: dict) -> dict[str, Any]:
    """The facts the rules read: the stated facts, and every category derived from them (the
    kinship category of a relation code, urban or rural from an urban-rural code, the zone of a
    region code by the rule set's own zone table, what property and insurance records show).
    A malformed code is refused (bad_facts), naming it."""
    out = {k: v for k, v in facts.items() if k not in DERIVED}
    problems = []
    for obs, fact in (("sponsor_relation_code", "sponsor_relation"),
                      ("serviceman_relation_code", "serviceman_relation")):  # fmt: skip
        code = facts.get(obs)
        if code is None:
            continue
        if not (isinstance(code, str) and re.match(RELATION_CODE_PATTERN, code)):
            problems.append(f"{obs}: 须为2位 GB/T 4761 代码 / a 2-digit code")
            continue
        category = relation_category(code)
        if category is not None:
            out[fact] = category
    for obs, fact in (("hukou_urban_rural_code", "hukou_urban"),
                      ("sponsor_hukou_urban_rural_code", "sponsor_hukou_urban"),
                      ("destination_urban_rural_code", "destination_rural")):  # fmt: skip
        value = facts.get(obs)
        if value is None:
            continue
        if value not in URBAN_RURAL:
            problems.append(f"{obs}: 城乡划分代码须为 {sorted(URBAN_RURAL)} 之一 / unknown code")
            continue
        urban = value.startswith("1")
        out[fact] = (not urban) if fact == "destination_rural" else urban
    for obs in ("residence_region_code", "employment_region_code"):
        region = facts.get(obs)
        if region is not None and re.match(REGION_CODE_PATTERN, region) is None:
            problems.append(f"{obs}: 须为6–12位区划代码 / 6–12 digits")
    if problems:
        raise DomainError(
            "事实有误：" + "；".join(problems),
            "bad facts: " + "; ".join(problems),
            code="bad_facts",
        )
    region = facts.get("residence_region_code")
    if region is not None:
        zone = zone_of(region, content)
        if zone is not None:
            out["residence_zone"] = zone
    _derive_employment(facts, out, content)
    _derive_property(facts, out)
    _derive_insurance(facts, out, content)
    return out


class FactProvider(Protocol):
    """Anything that can say what is known about an applicant on a day (department feeds)."""

    def facts_for(self, *, application: Any) -> dict[str, Any]: ...


class RecordedEvidence:
    """The facts recorded on the application itself (today the only source)."""

    def facts_for(self, *, application: Any) -> dict[str, Any]:
        # Evidence recorded before a fact was retired is read without it (the rules no
        # longer read it; the channel then asks for its replacement) instead of refused.
        evidence = {k: v for k, v in (application.evidence or {}).items() if k not in RETIRED}
        return facts_validate(evidence)


def facts_gather(*, application: Any, sources: list[FactProvider] | None = None) -> dict[str, Any]:
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

        from population.models import Person

        person = (
            Person.objects.filter(citizen_id=application.citizen_id)
            .only("birth_date", "hukou_region_id")
            .first()
        )
        if person is None:
            return {}
        on = application.submitted_on or today()
        born = person.birth_date
        age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        city = application.rule_set.city_code[:4]
        return {
            "age": max(age, 0),
            "hukou_in_city": bool(person.hukou_region_id)
            and person.hukou_region_id.startswith(city),
        }
