"""The one lock order of registration: persons, then households, then memberships.

Every service that changes who belongs where locks the rows it acts on in this order, each kind
in id order: all the persons first, then all the households, then (if it locks any) the
memberships. Two services acting on overlapping rows then queue on the first row they share
and never hold one while waiting for the other's: no deadlock.

A service that learns of more rows only after locking some (a completion settling several
persons, a merge finding its households through memberships) looks them up first without a
lock and takes them all here in one go, before changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from population.models import Person
from registry.models import Household


def lock_persons_then_households(
    person_ids: Iterable[int | None] = (), household_ids: Iterable[int | None] = ()
) -> tuple[dict[int, Person], dict[int, Household]]:
    """``SELECT … FOR NO KEY UPDATE`` the persons, then the households, each in id order.

    ``NO KEY``: no service changes an id, and a row elsewhere that refers to a locked one (a
    registration event naming the household, a membership) is then written without waiting
    for it; a plain ``FOR UPDATE`` made that foreign-key check wait, one more way to deadlock.

    Returns the locked rows by id (households with their region, which is read and not
    locked). ``None`` ids are skipped, repeats taken once; a row that does not exist is simply
    absent from the result. Call it before locking any other person or household.
    """
    pids = sorted({pk for pk in person_ids if pk is not None})
    hids = sorted({pk for pk in household_ids if pk is not None})
    persons: dict[int, Person] = {}
    households: dict[int, Household] = {}
    # ORDER BY under FOR UPDATE: PostgreSQL locks the rows as the sort hands them out.
    if pids:
        rows = Person.objects.select_for_update(of=("self",), no_key=True).filter(pk__in=pids)
        persons = {p.pk: p for p in rows.order_by("pk")}
    if hids:
        rows = Household.objects.select_for_update(of=("self",), no_key=True).select_related(
            "region"
        )
        households = {h.pk: h for h in rows.filter(pk__in=hids).order_by("pk")}
    return persons, households
