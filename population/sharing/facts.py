"""Derived facts: a yes/no answer instead of the data behind it.

A department that only needs to know "holds a local hukou" or "lives in district X" asks for
the fact and never reads an address. Facts are registered here by name; a higher app plugs its
own in from its ``AppConfig.ready`` (the residence-permit app will register
``valid_residence_permit``), because ``population`` never imports a higher app::

    from population.sharing.facts import Fact, fact_register

    fact_register(Fact("valid_residence_permit", "持有有效居住证", "holds a valid residence permit",
                       evaluate=lambda person, params: permit_is_valid(person=person)))

A client may ask for a fact only if its scope lists the fact's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from population.errors import DomainError
from population.models import Person, PersonStatus
from population.regions import code_prefix


@dataclass(frozen=True)
class Fact:
    name: str
    label_zh: str
    label_en: str
    evaluate: Callable[[Person, dict[str, str]], bool]
    # Query parameters the fact needs, each with a validator returning the cleaned value.
    params: dict[str, Callable[[str], str]] = field(default_factory=dict)


FACTS: dict[str, Fact] = {}


def fact_register(fact: Fact) -> Fact:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", fact.name):
        raise ValueError(f"bad fact name {fact.name!r}")
    if fact.name in FACTS and FACTS[fact.name] is not fact:
        raise ValueError(f"fact {fact.name!r} is registered twice")
    FACTS[fact.name] = fact
    return fact


def _region_code(value: str) -> str:
    """A region: its 12-digit code or the code's significant prefix (441802 for a county)."""
    value = (value or "").strip()
    if not re.fullmatch(r"[0-9]{2,12}", value):
        raise DomainError(
            "region 须为2至12位数字的区划代码或其前缀",
            "region must be a division code or its prefix, 2 to 12 digits",
            code="invalid_region",
        )
    return code_prefix(value)


def _in(region_id: str | None, prefix: str) -> bool:
    return region_id is not None and region_id.startswith(prefix)


fact_register(
    Fact(
        "local_hukou",
        "持有本市户籍",
        "holds a hukou of this city",
        evaluate=lambda person, params: person.is_registered,
    )
)
fact_register(
    Fact(
        "alive",
        "在世且未注销",
        "is alive and not cancelled",
        evaluate=lambda person, params: person.status == PersonStatus.ACTIVE,
    )
)
fact_register(
    Fact(
        "hukou_in_region",
        "户籍在指定区划内",
        "holds a hukou in the given region",
        evaluate=lambda person, params: (
            person.is_registered and _in(person.hukou_region_id, params["region"])
        ),
        params={"region": _region_code},
    )
)
fact_register(
    Fact(
        "lives_in_region",
        "居住在指定区划内",
        "lives in the given region",
        evaluate=lambda person, params: (
            person.status == PersonStatus.ACTIVE
            and _in(person.residence_region_id, params["region"])
        ),
        params={"region": _region_code},
    )
)
