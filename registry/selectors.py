"""Reads of the registry for the other apps: households, memberships, registration flows.

Other apps read households and memberships through these functions, never through the models'
managers; writes go through ``registry.services``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from population.codes import Relation
from registry.models import EventKind, Household, HouseholdKind, Membership

# -- households and memberships ----------------------------------------------------------------


def household_get(*, pk: int) -> Household:
    """The household with its region (raises ``Household.DoesNotExist``)."""
    return Household.objects.select_related("region").get(pk=pk)


def household_head(*, household: Household) -> Membership | None:
    """The household's current head's membership, with the person (None when it has none)."""
    return (
        Membership.objects.filter(
            household=household, relation=Relation.HEAD, end_date__isnull=True
        )
        .select_related("person")
        .first()
    )


def household_get_by_number(*, number: str) -> Household | None:
    """The household numbered ``number`` (户号), or None when there is none."""
    return Household.objects.filter(number=number).first()


def households_open() -> QuerySet[Household]:
    """The households not closed (未销户), the ones a person may still join."""
    return Household.objects.filter(closed_on__isnull=True)


def households_with_head(*, households: QuerySet[Household]) -> QuerySet[Household]:
    """``households`` annotated with their current head's name (``head_name``) and person id
    (``head_id``), both None for a household without a head."""
    heads = Membership.objects.filter(
        household=OuterRef("pk"), relation=Relation.HEAD, end_date__isnull=True
    )
    return households.annotate(
        head_name=Subquery(heads.values("person__name")[:1]),
        head_id=Subquery(heads.values("person_id")[:1]),
    )


def household_heads(
    *, region_prefix: str, kind: str = HouseholdKind.FAMILY
) -> QuerySet[Membership]:
    """The current heads' memberships of the open households of ``kind`` whose region code
    starts with ``region_prefix``, each with its household, in household id order."""
    return (
        Membership.objects.filter(
            relation=Relation.HEAD,
            end_date__isnull=True,
            household__kind=kind,
            household__closed_on__isnull=True,
            household__region__code__startswith=region_prefix,
        )
        .select_related("household")
        .order_by("household_id")
    )


# -- the population balance (registered with population.statistics.balance) -------------------

# Each registration event kind's place in the balance; every other kind (moves within the city,
# collective settlements, splits, merges) counts as "other", net per area.
BALANCE_FLOWS = {
    EventKind.BIRTH: "births",
    EventKind.MOVE_IN: "moves_in",
    EventKind.DEATH: "deaths",
    EventKind.MOVE_OUT: "moves_out",
}

FLOWS_SQL = """
SELECT e.id, e.kind, e.person_id, e.effective_date,
       left(fh.region_id, %(digits)s) = %(prefix)s AS out_of,
       left(th.region_id, %(digits)s) = %(prefix)s AS into
  FROM registry_registrationevent e
  LEFT JOIN registry_household fh ON fh.id = e.from_household_id
  LEFT JOIN registry_household th ON th.id = e.to_household_id
 WHERE e.effective_date BETWEEN %(first)s AND %(last)s
   AND (left(fh.region_id, %(digits)s) = %(prefix)s OR left(th.region_id, %(digits)s) = %(prefix)s)
 ORDER BY e.id
"""


def registration_flows(*, prefix: str, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The registration events from ``first`` to ``last`` that leave or enter the area whose
    codes start with ``prefix``: id, kind, person, date, out of / into the area, and the
    balance flow the kind feeds."""
    with connection.cursor() as cursor:
        cursor.execute(
            FLOWS_SQL, {"prefix": prefix, "digits": len(prefix), "first": first, "last": last}
        )
        rows = cursor.fetchall()
    return [
        {
            "id": pk,
            "kind": kind,
            "person_id": person_id,
            "effective_date": effective_date,
            "out_of": bool(out_of),
            "into": bool(into),
            "flow": BALANCE_FLOWS.get(kind, "other"),
        }
        for pk, kind, person_id, effective_date, out_of, into in rows
    ]
