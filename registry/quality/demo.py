"""Demonstration content: a few open data-quality issues in the demo city.

Registered by ``RegistryConfig.ready``; seed_demo runs it after the city. Three registered
residents get a second record under another number with the same name, sex and birth date (as
a double entry at a window would make), then the duplicate detector fills the review queue.
"""

from __future__ import annotations

import datetime as dt

from population import services as population_services
from population.identity import build_citizen_id
from population.models import Person, PersonStatus, Sex
from registry.quality.models import QualityIssue
from registry.quality.services import quality_detect

DEMO_DUPLICATES = 3


def _free_number(person: Person) -> str:
    male = person.sex == Sex.MALE
    for n in range(990, 1, -1):
        if (n % 2 == 1) != male:
            continue
        number = build_citizen_id(person.citizen_id[:6], person.birth_date, n)
        if not Person.objects.filter(citizen_id=number).exists():
            return number
    raise RuntimeError("no free number")


def demo_quality_issues(today: dt.date) -> str:
    if QualityIssue.objects.exists():
        return "已有数据质量问题，未添加 / issues exist, none added"
    originals = Person.objects.filter(
        status=PersonStatus.ACTIVE, hukou_region__isnull=False
    ).order_by("id")[:DEMO_DUPLICATES]
    for person in originals:
        population_services.person_create(
            citizen_id=_free_number(person),
            name=person.name,
            actor=None,
            reason="演示数据：窗口重复录入",
        )
    quality_detect(detectors=["dup_same_name"])
    opened = QualityIssue.objects.filter(status="open").count()
    return f"{opened} 个待核查的数据质量问题 / open quality issues"
