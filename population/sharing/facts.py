"""Derived facts: a yes/no answer instead of the data behind it.

A department that only needs to know "holds a local hukou" or "lives in district X" asks for
the fact and never reads an address. Derived facts are items of ``derived_fact_hook`` (the
``Hook`` of population/hooks.py), keyed by name: this app registers the ones below from its
``AppConfig.ready``, and a higher app plugs its own in the same way (the residence-permit app
registers ``valid_residence_permit``), because ``population`` never imports a higher app::

    from population.sharing.facts import DerivedFact, derived_fact_hook

    derived_fact_hook.register(DerivedFact(
        "valid_residence_permit", "持有有效居住证", "holds a valid residence permit",
        evaluate=lambda person, params: permit_is_valid(person=person),
    ))

A client may ask for a fact only if its scope lists the fact's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from population.errors import DomainError
from population.hooks import Hook
from population.models import Person, PersonStatus
from population.regions import code_prefix


@dataclass(frozen=True)
class DerivedFact:
    """A yes/no answer about a person (not ``sync.Fact``, the row a department feed delivered)."""

    name: str
    label_zh: str
    label_en: str
    evaluate: Callable[[Person, dict[str, str]], bool]
    # Query parameters the fact needs, each with a validator returning the cleaned value.
    params: dict[str, Callable[[str], str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The name is a path segment of the API and a scope code stored on clients.
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", self.name):
            raise ValueError(f"bad fact name {self.name!r}")


derived_fact_hook: Hook[DerivedFact] = Hook("sharing.facts")


def fact_field_label(name: str) -> str:
    """The access log's name of the field ``fact:<name>`` (a fact a department asked about)."""
    fact = derived_fact_hook.get(name)
    return f"事实核验：{(fact.label_zh if fact else '') or '其他'}"


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


# This app's own facts, registered by SharingConfig.ready.
OWN_FACTS = (
    DerivedFact(
        "local_hukou",
        "持有本市户籍",
        "holds a hukou of this city",
        evaluate=lambda person, params: person.is_registered,
    ),
    DerivedFact(
        "alive",
        "在世且未注销",
        "is alive and not cancelled",
        evaluate=lambda person, params: person.status == PersonStatus.ACTIVE,
    ),
    DerivedFact(
        "hukou_in_region",
        "户籍在指定区划内",
        "holds a hukou in the given region",
        evaluate=lambda person, params: (
            person.is_registered and _in(person.hukou_region_id, params["region"])
        ),
        params={"region": _region_code},
    ),
    DerivedFact(
        "lives_in_region",
        "居住在指定区划内",
        "lives in the given region",
        evaluate=lambda person, params: (
            person.status == PersonStatus.ACTIVE
            and _in(person.residence_region_id, params["region"])
        ),
        params={"region": _region_code},
    ),
)
