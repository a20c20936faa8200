"""Small builders for the data-quality tests: registered persons, raw legacy rows."""

from __future__ import annotations

import datetime as dt
import itertools

from population.codes import Relation
from population.identity import build_citizen_id, check_digit
from population.models import Person
from registry import services
from registry.models import HouseholdKind

_seq = itertools.count(101)
BORN = dt.date(1990, 1, 1)


def next_id(*, male: bool = True, born: dt.date = BORN, address: str = "441802") -> str:
    n = next(_seq) % 500
    return build_citizen_id(address, born, n * 2 + (1 if male else 0))


def household(region, address: str = "凤城路1号", kind: str = HouseholdKind.FAMILY):
    return services.household_create(kind=kind, address=address, region=region, actor=None)


def registered(
    region,
    name: str,
    *,
    male: bool = True,
    born: dt.date = BORN,
    into=None,
    relation: str = Relation.HEAD,
):
    """A person who moved in and holds an open membership (a new family household by default)."""
    into = into or household(region, address=f"{name}家")
    return services.move_in(
        citizen_id=next_id(male=male, born=born),
        name=name,
        household=into,
        relation=relation,
        transfer_permit_number=f"T-{next(_seq)}",
        on=dt.date(2020, 1, 1),
        actor=None,
    )


def raw_person(*, citizen_id: str, name: str = "旧数据", **fields) -> Person:
    """A row as a legacy import left it, bypassing the service's checks (not the database's)."""
    born = dt.date(int(citizen_id[6:10]), int(citizen_id[10:12]), int(citizen_id[12:14]))
    sex = 1 if int(citizen_id[16]) % 2 else 2
    return Person.objects.create(
        citizen_id=citizen_id, name=name, sex=sex, birth_date=born, **fields
    )


def wrong_check_digit_id() -> str:
    number = next_id()
    good = check_digit(number[:17])
    bad = "0" if good != "0" else "1"
    return number[:17] + bad
