"""What the registration-event tests share: dates, citizen IDs, the snapshot of every row an
event may touch, the refusal assertion, and small builders of households and members."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.utils import timezone

from population.errors import Conflict, DomainError
from population.identity import build_citizen_id
from population.models import CitizenIdCorrection, Person, Region
from registry import services
from registry.models import Household, HouseholdKind, Membership, RegistrationEvent

JOINED = dt.date(2020, 1, 1)  # every fixture member joined on this date
LATER = dt.date(2021, 3, 15)
BEFORE_JOINING = dt.date(2019, 12, 31)
CONFLICT_CODES = frozenset(
    {
        "person_inactive",
        "household_closed",
        "not_registered",
        "stale_membership",
        "head_exists",
        "conflict",
        "sequence_exhausted",
    }
)
PERMIT = re.compile(r"^QC\d{4}\d{8}$")


def tomorrow() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=1)


def cid(seq: int, born: dt.date = dt.date(1990, 1, 1)) -> str:
    return build_citizen_id("441802", born, seq)


# -- state and assertions ---------------------------------------------------------------------


def state() -> dict:
    """Everything a registration event may touch, as plain values."""
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (Membership, RegistrationEvent, Person, Household)
        },
        "memberships": list(Membership.objects.order_by("pk").values()),
        "events": list(RegistrationEvent.objects.order_by("pk").values()),
        "persons": list(Person.objects.order_by("pk").values()),
        "households": list(Household.objects.order_by("pk").values()),
        "corrections": CitizenIdCorrection.objects.count(),
        "history": {
            model.__name__: model.pgh_event_model.objects.count()
            for model in (Membership, Household, Person)
        },
    }


def assert_refused(code: str, call: Callable[[], object]) -> DomainError:
    """The call is refused with ``code`` and leaves every row as it was."""
    before = state()
    with pytest.raises(DomainError) as excinfo:
        call()
    error = excinfo.value
    assert (error.code, type(error)) == (code, Conflict if code in CONFLICT_CODES else DomainError)
    assert error.message_zh and error.message_en
    assert state() == before
    return error


def memberships(person: Person) -> list[tuple]:
    return list(
        Membership.objects.filter(person=person)
        .order_by("pk")
        .values_list("household_id", "relation", "start_date", "end_date")
    )


def event_of(event: RegistrationEvent) -> dict:
    return {
        "kind": event.kind,
        "person": event.person_id,
        "officer": event.officer_id,
        "from": event.from_household_id,
        "to": event.to_household_id,
        "effective_date": event.effective_date,
        "reason": event.reason,
        "document_type": event.document_type,
        "document_number": event.document_number,
        "details": event.details,
    }


def only_event(**filters) -> RegistrationEvent:
    return RegistrationEvent.objects.get(**filters)


# -- fixtures -----------------------------------------------------------------------------------


def new_household(region: Region, kind: str = HouseholdKind.FAMILY, address: str = "凤城路1号"):
    return services.household_create(kind=kind, address=address, region=region, actor=None)


def move_in(household: Household, citizen_id: str, relation: str, name: str = "某人", **kw):
    kw.setdefault("on", JOINED)
    return services.move_in(
        citizen_id=citizen_id,
        name=name,
        household=household,
        relation=relation,
        transfer_permit_number="T1",
        actor=None,
        **kw,
    )


class N(str):
    """A parametrize placeholder for a fixture object: ``N("home")`` is ``ns.home``."""


def resolve(ns, overrides: dict) -> dict:
    return {k: getattr(ns, v) if isinstance(v, N) else v for k, v in overrides.items()}


def refetch(obj):
    return type(obj).objects.get(pk=obj.pk)


def close(household: Household) -> Household:
    return services.household_close(household=household, on=LATER, actor=None, reason="销户")
