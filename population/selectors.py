"""Reads from the base library. Hot reads are single index lookups."""

from __future__ import annotations

from population.identity import InvalidCitizenId, parse_citizen_id
from population.models import CitizenIdCorrection, Person


def person_get_by_citizen_id(*, citizen_id: str) -> Person | None:
    """The person with this citizen ID, or with it as a corrected former number.

    Accepts what an officer types (full-width digits, lowercase x, a 15-digit number); an
    invalid number finds nobody rather than raising.
    """
    try:
        number = str(parse_citizen_id(citizen_id))
    except InvalidCitizenId:
        return None
    person = (
        Person.objects.select_related("hukou_region", "residence_region")
        .filter(citizen_id=number)
        .first()
    )
    if person is not None:
        return person
    correction = (
        CitizenIdCorrection.objects.filter(old_citizen_id=number)
        .order_by("-corrected_at")
        .select_related("person__hukou_region", "person__residence_region")
        .first()
    )
    return correction.person if correction else None
