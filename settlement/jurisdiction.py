"""How settlement applications lie in a jurisdiction (the rule is ``population.jurisdiction``).

An application is inside when its applicant (recorded in the library under the number applied
with, or the person it settled) is, when a member it brings is, or when its destination
household is. An applicant the library does not know yet belongs to no station before a
destination is chosen: staff whose area covers the whole city of the rule set see it, as they
see persons with no region. Stated once here for the admin, services and selectors.
"""

from __future__ import annotations

from django.db.models import Q

from population.jurisdiction import (
    Area,
    AreaRule,
    any_of,
    area_rule_hook,
    code_range_q,
    person_ids_q,
    person_q,
)
from population.models import Person
from settlement.models import Application, ApplicationMember, ApplicationTransition


def application_q(area: Area) -> Q:
    if area.everything:
        return Q()
    known = Person.objects.filter(person_q(area)).values("citizen_id")
    members = ApplicationMember.objects.filter(citizen_id__in=known).values("application_id")
    parts = [
        Q(citizen_id__in=known),
        person_ids_q(area),
        Q(pk__in=members),
        code_range_q("household__region_id", area),
    ]
    city_wide = [p for p in area.prefixes if len(p) <= 4]
    if city_wide:
        q = Q(pk__in=[])
        for prefix in city_wide:
            q |= Q(rule_set__city_code__startswith=prefix)
        parts.append(q)
    return any_of(Application, *parts)


def application_persons(app: Application) -> list[int]:
    numbers = [app.citizen_id, *app.members.values_list("citizen_id", flat=True)]
    found = Person.objects.filter(citizen_id__in=numbers).values_list("pk", flat=True)
    return sorted({*found, app.person_id} - {None})


def _in_applications(area: Area) -> Q:
    return Q(application_id__in=Application.objects.filter(application_q(area)).values("pk"))


area_rule_hook.register(AreaRule(Application, q=application_q, persons=application_persons))
area_rule_hook.register(
    AreaRule(ApplicationMember, q=_in_applications, persons=lambda m: [m.person_id])
)
area_rule_hook.register(
    AreaRule(
        ApplicationTransition,
        q=_in_applications,
        persons=lambda t: application_persons(t.application),
    )
)
