"""Feed schemas: which columns each department feed carries, in which version, into which field.

Every feed row starts with ``record_no`` (the department's own record number: the natural key of
the fact), ``citizen_id`` and ``name``; the rest depends on the feed. A column maps to a typed
fact field the rules read (dates, months, amount, counterpart) or to ``detail`` (kept as JSON).
A new version may add columns; a CSV file's header tells its version, a JSON Lines batch states
it (or is read as the latest). docs/feeds.md renders these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from population.sync.departments import Department


class FactKind(models.TextChoices):
    EMPLOYMENT = "employment", "就业登记"
    SOCIAL_INSURANCE = "social_insurance", "社会保险缴费"
    ENROLMENT = "enrolment", "在学"
    DEGREE = "degree", "学历学位"
    PROPERTY = "property", "房屋产权"
    RENTAL = "rental", "租赁登记备案"
    BIRTH_CERTIFICATE = "birth_certificate", "出生医学证明"
    DEATH = "death", "死亡医学证明"
    MARRIAGE = "marriage", "结婚登记"
    DIVORCE = "divorce", "离婚登记"
    TAX_PAID = "tax_paid", "个人所得税纳税"


# Types a column value is parsed into.
TEXT, DATE, INT, DECIMAL, CITIZEN_ID, REGION = (
    "text",
    "date",
    "int",
    "decimal",
    "citizen_id",
    "region",
)

# Typed fact fields a column may fill (anything else goes to detail).
TYPED_FIELDS = (
    "record_no",
    "citizen_id",
    "name",
    "counterpart_citizen_id",
    "org",
    "region_code",
    "event_date",
    "valid_from",
    "valid_to",
    "months",
    "amount",
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    field: str  # a typed field, or "detail"
    required: bool = True
    label: str = ""


@dataclass(frozen=True)
class Feed:
    kind: str
    department: str
    versions: dict[int, tuple[Column, ...]]
    description: str

    @property
    def latest(self) -> int:
        return max(self.versions)

    def columns(self, version: int) -> tuple[Column, ...]:
        return self.versions[version]

    def version_of_header(self, header: list[str]) -> int | None:
        for version, cols in self.versions.items():
            if [c.name for c in cols] == header:
                return version
        return None


_COMMON = (
    Column("record_no", TEXT, "record_no", label="部门记录号"),
    Column("citizen_id", CITIZEN_ID, "citizen_id", label="公民身份号码"),
    Column("name", TEXT, "name", label="姓名（部门登记）"),
)

_EMPLOYMENT_V1 = (
    *_COMMON,
    Column("employer", TEXT, "org", label="用人单位"),
    Column("employer_credit_code", TEXT, "detail", label="统一社会信用代码"),
    Column("start_date", DATE, "valid_from", label="就业起始日期"),
    Column("end_date", DATE, "valid_to", required=False, label="终止日期"),
)

FEEDS: dict[str, Feed] = {
    f.kind: f
    for f in (
        Feed(
            FactKind.EMPLOYMENT,
            Department.HRSS,
            {
                1: _EMPLOYMENT_V1,
                # v2 adds the contract type (劳动合同类型: fixed, open-ended, task).
                2: (*_EMPLOYMENT_V1, Column("contract_type", TEXT, "detail", False, "合同类型")),
            },
            "就业登记：用人单位与起止日期",
        ),
        Feed(
            FactKind.SOCIAL_INSURANCE,
            Department.HRSS,
            {
                1: (
                    *_COMMON,
                    Column("insurance_type", TEXT, "detail", label="险种"),
                    Column("months", INT, "months", label="本市累计缴费月数"),
                    Column("as_of", DATE, "event_date", label="统计截至日期"),
                    Column("region_code", REGION, "region_code", False, "参保地区划代码"),
                )
            },
            "社会保险：险种与本市累计缴费月数",
        ),
        Feed(
            FactKind.ENROLMENT,
            Department.EDU,
            {
                1: (
                    *_COMMON,
                    Column("school", TEXT, "org", label="学校"),
                    Column("grade", TEXT, "detail", label="年级"),
                    Column("start_date", DATE, "valid_from", label="入学日期"),
                    Column("end_date", DATE, "valid_to", required=False, label="离校日期"),
                )
            },
            "学籍：学校、年级、入学与离校日期",
        ),
        Feed(
            FactKind.DEGREE,
            Department.EDU,
            {
                1: (
                    *_COMMON,
                    Column("institution", TEXT, "org", label="授予单位"),
                    Column("level", TEXT, "detail", label="学历层次"),
                    Column("awarded_on", DATE, "event_date", label="毕业/授予日期"),
                )
            },
            "学历学位：授予单位、层次、日期",
        ),
        Feed(
            FactKind.PROPERTY,
            Department.HOUSING,
            {
                1: (
                    *_COMMON,
                    Column("address", TEXT, "detail", label="房屋坐落"),
                    Column("region_code", REGION, "region_code", label="所在区划代码"),
                    Column("area_m2", DECIMAL, "amount", label="建筑面积（平方米）"),
                    Column("registered_on", DATE, "valid_from", label="登簿日期"),
                    Column("cancelled_on", DATE, "valid_to", required=False, label="注销日期"),
                )
            },
            "不动产权：坐落、面积、登簿与注销日期",
        ),
        Feed(
            FactKind.RENTAL,
            Department.HOUSING,
            {
                1: (
                    *_COMMON,
                    Column("address", TEXT, "detail", label="房屋坐落"),
                    Column("region_code", REGION, "region_code", label="所在区划代码"),
                    Column("start_date", DATE, "valid_from", label="租期起"),
                    Column("end_date", DATE, "valid_to", label="租期止"),
                )
            },
            "租赁登记备案：坐落与租期",
        ),
        Feed(
            FactKind.BIRTH_CERTIFICATE,
            Department.HEALTH,
            {
                1: (
                    *_COMMON,  # the mother
                    Column("child_name", TEXT, "detail", label="新生儿姓名"),
                    Column("child_sex", TEXT, "detail", label="新生儿性别（1男2女）"),
                    Column("born_on", DATE, "event_date", label="出生日期"),
                    Column("hospital", TEXT, "org", label="助产机构"),
                    Column(
                        "father_citizen_id", CITIZEN_ID, "counterpart_citizen_id", False, "父亲"
                    ),
                )
            },
            "出生医学证明（按母亲身份号码）：新生儿、出生日期、助产机构",
        ),
        Feed(
            FactKind.DEATH,
            Department.HEALTH,
            {
                1: (
                    *_COMMON,
                    Column("died_on", DATE, "event_date", label="死亡日期"),
                    Column("institution", TEXT, "org", required=False, label="开具机构"),
                )
            },
            "死亡医学证明：死亡日期与开具机构",
        ),
        Feed(
            FactKind.MARRIAGE,
            Department.CIVIL,
            {
                1: (
                    *_COMMON,
                    Column("spouse_citizen_id", CITIZEN_ID, "counterpart_citizen_id", label="配偶"),
                    Column("spouse_name", TEXT, "detail", label="配偶姓名"),
                    Column("registered_on", DATE, "event_date", label="登记日期"),
                )
            },
            "结婚登记：配偶与登记日期（亲属关系事实）",
        ),
        Feed(
            FactKind.DIVORCE,
            Department.CIVIL,
            {
                1: (
                    *_COMMON,
                    Column(
                        "spouse_citizen_id", CITIZEN_ID, "counterpart_citizen_id", label="原配偶"
                    ),
                    Column("registered_on", DATE, "event_date", label="登记日期"),
                )
            },
            "离婚登记：原配偶与登记日期",
        ),
        Feed(
            FactKind.TAX_PAID,
            Department.TAX,
            {
                1: (
                    *_COMMON,
                    Column("tax_year", INT, "detail", label="纳税年度"),
                    Column("amount", DECIMAL, "amount", label="已缴税额（元）"),
                    Column("period_start", DATE, "valid_from", label="所属期起"),
                    Column("period_end", DATE, "valid_to", label="所属期止"),
                )
            },
            "个人所得税：年度、税额与所属期",
        ),
    )
}


def feed_get(kind: str) -> Feed:
    try:
        return FEEDS[kind]
    except KeyError:
        from population.errors import DomainError

        raise DomainError(
            f"未知的数据项：{kind}", f"unknown feed: {kind}", code="unknown_feed"
        ) from None
