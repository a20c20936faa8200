"""How registry records lie in a jurisdiction (the rule itself is ``population.jurisdiction``).

- a household is inside when its region is;
- a person is also inside when their open household is (registered as a person source);
- a membership is inside when its household is, or its person is (or is granted);
- a registration event is inside when its person is, or either household it names is;
- a data-quality issue is inside when one of its persons or its household is;
- a merge proposal is inside when both its records are.

Each rule is stated once here (``area_rule_hook``) and used by the admin, the services and the
selectors alike.
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet

from population.jurisdiction import (
    Area,
    AreaRule,
    area_rule_hook,
    code_range_q,
    person_ids_q,
    person_q,
)
from population.models import Person
from registry.models import Correction, Household, Membership, RegistrationEvent
from registry.quality.models import PersonMerge, QualityIssue


def household_q(area: Area, *, column: str = "region_id") -> Q:
    if area.everything:
        return Q()
    return code_range_q(column, area)


def persons_in_open_households(area: Area) -> QuerySet:
    """Ids of persons whose open household lies inside the area."""
    return Membership.objects.filter(
        end_date__isnull=True,
        household_id__in=Household.objects.filter(household_q(area)).values("pk"),
    ).values("person_id")


def membership_q(area: Area) -> Q:
    if area.everything:
        return Q()
    q = household_q(area, column="household__region_id")
    if area.granted_person_ids:
        q |= Q(person_id__in=sorted(area.granted_person_ids))
    return q


def event_q(area: Area) -> Q:
    # A UNION of index-backed parts, not an OR of subqueries (see population.jurisdiction).
    if area.everything:
        return Q()
    households = Household.objects.filter(household_q(area)).values("pk")
    events = RegistrationEvent.objects
    ids = (
        events.filter(person_ids_q(area))
        .values("pk")
        .union(
            events.filter(from_household_id__in=households).values("pk"),
            events.filter(to_household_id__in=households).values("pk"),
            all=True,
        )
    )
    return Q(pk__in=ids)


class _EqualsAny(Func):
    """``value = ANY(array)`` as a condition."""

    template = "%(expressions)s)"
    arg_joiner = " = ANY("
    output_field = BooleanField()


def issue_q(area: Area) -> Q:
    inside = Person.objects.filter(person_q(area)).filter(
        _EqualsAny(F("pk"), OuterRef("person_ids"))
    )
    return Q(Exists(inside)) | code_range_q("household__region_id", area)


def merge_q(area: Area) -> Q:
    return person_ids_q(area, column="survivor_id") & person_ids_q(area, column="duplicate_id")


def _household_persons(household: Household) -> list[int]:
    return list(household.memberships.values_list("person_id", flat=True))


area_rule_hook.register(AreaRule(Household, q=household_q, persons=_household_persons))
area_rule_hook.register(AreaRule(Membership, q=membership_q, persons=lambda m: [m.person_id]))
area_rule_hook.register(AreaRule(RegistrationEvent, q=event_q, persons=lambda e: [e.person_id]))
area_rule_hook.register(AreaRule(QualityIssue, q=issue_q, persons=lambda i: list(i.person_ids)))
area_rule_hook.register(
    AreaRule(PersonMerge, q=merge_q, persons=lambda m: [m.survivor_id, m.duplicate_id])
)
area_rule_hook.register(AreaRule(Correction, q=person_ids_q, persons=lambda c: [c.person_id]))
