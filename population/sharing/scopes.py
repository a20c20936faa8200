"""What a department client may be granted: endpoints, person fields, purposes, change kinds.

Each catalogue is data: a code (stable, ASCII, what a client sends) and a Chinese label.
"""

from __future__ import annotations

from django.db import models

# A client's department: the one list the department sync uses too.
from population.departments import Department  # noqa: F401


class Endpoint(models.TextChoices):
    PERSONS = "persons", "人员信息查询"
    VERIFICATIONS = "verifications", "身份核验"
    CHANGES = "changes", "变更订阅"
    FACTS = "facts", "事实核验（是/否）"
    FEEDS = "feeds", "部门数据报送"
    STATISTICS = "statistics", "统计数据（城镇化率）"
    SETTLEMENT_PRECHECK = "settlement_precheck", "落户条件预检"
    PERSON_READS = "person_reads", "查阅记录（本人信息被谁查阅）"


class PersonField(models.TextChoices):
    NAME = "name", "姓名"
    SEX = "sex", "性别"
    BIRTH_DATE = "birth_date", "出生日期"
    ETHNICITY = "ethnicity", "民族"
    STATUS = "status", "状态"
    HUKOU_REGION = "hukou_region", "户籍地"
    RESIDENCE_REGION = "residence_region", "实际居住地"


class Purpose(models.TextChoices):
    """用途: why a department reads; every request states one (``X-Purpose``)."""

    SOCIAL_INSURANCE = "social_insurance", "社会保险经办"
    EMPLOYMENT_SERVICE = "employment_service", "就业服务"
    SCHOOL_ENROLMENT = "school_enrolment", "入学资格审核"
    HOUSING_SECURITY = "housing_security", "住房保障资格审核"
    HEALTH_SERVICE = "health_service", "基本公共卫生服务"
    SOCIAL_ASSISTANCE = "social_assistance", "社会救助审核"
    MARRIAGE_REGISTRATION = "marriage_registration", "婚姻登记"
    TAX_ADMINISTRATION = "tax_administration", "税收征管"
    STATISTICS = "statistics", "统计调查"
    # PIPL art. 45: a person asks who has read their data (政务服务平台 on the person's behalf).
    DATA_SUBJECT_REQUEST = "data_subject_request", "个人信息查阅请求（本人申请）"


class ChangeKind(models.TextChoices):
    """Kinds in the change feed. Registry kinds now; permits and settlements add theirs."""

    BIRTH = "birth", "出生登记"
    DEATH = "death", "死亡注销"
    MOVE_OUT = "move_out", "迁出"
    MOVE_IN = "move_in", "迁入"
    MOVE_WITHIN = "move_within", "市内迁移"
    ATTACH = "attach", "挂靠"
    SPLIT = "split", "分户"
    HEAD_CHANGE = "head_change", "变更户主"
    COLLECTIVE = "collective", "集体户落户"
    ID_CORRECTION = "id_correction", "身份号码更正"
    CORRECTION = "correction", "变更更正登记"
    MERGE = "merge", "重复户口合并"
    SETTLEMENT = "settlement", "落户"
    PERMIT_ISSUED = "permit_issued", "居住证签发"
    PERMIT_ENDORSED = "permit_endorsed", "居住证签注"
    PERMIT_ENDED = "permit_ended", "居住证失效"
