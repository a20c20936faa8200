"""Demonstration content for the demo city: residents whose permits are due for 签注 today.

Registered by ``ResidencePermitConfig.ready`` with ``population.demo.demo_loader_hook``;
seed_demo runs it after the city. Everything goes through the services, as an officer's work
would, dated in the past: residence registered two years ago, employment on file, a permit
issued a little less than a year ago, so its endorsement window is open now.
"""

from __future__ import annotations

import datetime as dt

from population.models import Person, PersonStatus
from population.regions import DEMO_CITY
from residence_permit import rules, services
from residence_permit.models import PersonFactKind, ResidenceBasis, ResidencePermit

DEMO_PERMITS_DUE = 8


def demo_permits_due(today: dt.date) -> str:
    if ResidencePermit.objects.exists():
        return "已有居住证，未添加 / permits exist, none added"
    # Adults from other provinces living in the demo city (流动人口), oldest ids first.
    adult = dt.date(today.year - 25, 1, 1)
    migrants = Person.objects.filter(
        status=PersonStatus.ACTIVE,
        hukou_region__isnull=True,
        residence_region__code__startswith=DEMO_CITY,
        residence_region__level=5,
        birth_date__lte=adult,
    ).order_by("id")[:DEMO_PERMITS_DUE]
    made = 0
    for index, person in enumerate(migrants):
        since = rules.add_years(today, -2)
        # Issued 11 months and a few days ago: the first 签注 falls due within the window.
        issued = rules.add_months(today, -11) - dt.timedelta(days=5 + index)
        services.residence_registration_create(
            person=person,
            address=f"{person.residence_region.name}{10 + index}号",
            region=person.residence_region,
            basis=ResidenceBasis.JOB,
            start_date=since,
            actor=None,
            reason="演示数据：居住登记",
        )
        services.person_fact_record(
            person=person,
            kind=PersonFactKind.EMPLOYMENT,
            start_date=since,
            evidence=f"演示劳动合同 {since:%Y}-{index + 1:03d}",
            actor=None,
            source_name="演示数据",
        )
        application = services.permit_application_submit(person=person, actor=None, on=issued)
        services.permit_issue(application=application, actor=None, on=issued)
        made += 1
    return f"{made} 张待签注的居住证 / permits due for endorsement"
