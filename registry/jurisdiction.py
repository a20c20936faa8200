"""How registry records relate to a jurisdiction (the rule itself is ``population.jurisdiction``).

- a household is inside when its region is;
- a person is also inside when their open household is (registered as a person source);
- a membership is inside when its household is, or its person is (or is granted);
- a registration event is inside when its person is, or either household it names is.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from population.jurisdiction import Area, code_range_q, person_ids_q
from registry.models import Household, Membership, RegistrationEvent


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
