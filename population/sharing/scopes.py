"""What a department client may be granted: endpoints, person fields, purposes, change kinds.

Each catalogue is data: a code (stable, ASCII, what a client sends) and a Chinese label.
Person fields and purposes are this app's own. Endpoints and change kinds are registered by the
app that serves or records them, from its ``AppConfig.ready`` (population never imports a
higher app, and a new one needs no migration here)::

    endpoint_hook.register(ScopeCode("settlement_precheck", "落户条件预检"))
    change_kind_hook.register(ScopeCode("permit_issued", "居住证签发"))

The client's stored lists are checked against the hooks when a client is saved
(``services.api_client_scope_clean``, the admin form); the columns themselves carry no choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

# A client's department: the one list the department sync uses too.
from population.departments import Department  # noqa: F401
from population.hooks import Hook


@dataclass(frozen=True)
class ScopeCode:
    """One grantable code: what a client sends or receives, and its Chinese label."""

    name: str
    label: str


# API endpoints a client may call (``SharingAPIView.endpoint`` is one of these names).
endpoint_hook: Hook[ScopeCode] = Hook("sharing.endpoints")
# Kinds of the change feed (``population.services.change_record(kind=...)``).
change_kind_hook: Hook[ScopeCode] = Hook("sharing.change_kinds")


def hook_choices(hook: Hook[ScopeCode]) -> list[tuple[str, str]]:
    """(code, Chinese label) pairs of a hook, in registration order, for a form's choices."""
    return [(item.name, item.label) for item in hook]


class Endpoint(models.TextChoices):
    """The endpoints this app serves itself (registered by ``SharingConfig.ready``)."""

    PERSONS = "persons", "人员信息查询"
    VERIFICATIONS = "verifications", "身份核验"
    CHANGES = "changes", "变更订阅"
    FACTS = "facts", "事实核验（是/否）"
    FEEDS = "feeds", "部门数据报送"
    STATISTICS = "statistics", "统计数据（城镇化率）"
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
