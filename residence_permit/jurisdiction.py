"""How residence-permit records lie in a jurisdiction (the rule is ``population.jurisdiction``).

A registration or a permit is inside when its holder is, or when the residence region it names
is (the station where the holder lives); facts, applications, points and the permit's events
follow their person or permit. Stated once here for the admin, services and selectors.
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
)
from residence_permit.models import (
    PermitApplication,
    PermitEvent,
    PersonFact,
    PointsAccount,
    PointsEntry,
    ResidencePermit,
    ResidenceRegistration,
)


def registration_q(area: Area) -> Q:
    return any_of(ResidenceRegistration, person_ids_q(area), code_range_q("region_id", area))


def permit_q(area: Area) -> Q:
    return any_of(ResidencePermit, person_ids_q(area), code_range_q("region_id", area))


def application_q(area: Area) -> Q:
    return any_of(
        PermitApplication, person_ids_q(area), code_range_q("registration__region_id", area)
    )


def permit_event_q(area: Area) -> Q:
    return Q(permit_id__in=ResidencePermit.objects.filter(permit_q(area)).values("pk"))


def _of_person(record) -> list[int]:
    return [record.person_id]


area_rule_hook.register(AreaRule(ResidenceRegistration, q=registration_q, persons=_of_person))
area_rule_hook.register(AreaRule(PersonFact, q=person_ids_q, persons=_of_person))
area_rule_hook.register(
    AreaRule(PermitApplication, q=application_q, persons=lambda a: [a.person_id, a.proxy_id])
)
area_rule_hook.register(AreaRule(ResidencePermit, q=permit_q, persons=_of_person))
area_rule_hook.register(
    AreaRule(PermitEvent, q=permit_event_q, persons=lambda e: [e.permit.person_id])
)
area_rule_hook.register(AreaRule(PointsEntry, q=person_ids_q, persons=_of_person))
area_rule_hook.register(AreaRule(PointsAccount, q=person_ids_q, persons=_of_person))
