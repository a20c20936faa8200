"""Departments that send feeds, and which department is authoritative for which field.

The authority matrix is data (``data/authority.json``), loaded and checked at import; the same
file is rendered in docs/feeds.md. A feed only writes facts of kinds its department is
authoritative for, and never writes a person field: a value it reports for a field another
department owns (the name, owned by 公安) becomes a reconciliation item when it disagrees.
"""

from __future__ import annotations

import json
from importlib import resources

# The one department list (population/departments.py), which the sync's modules import from here.
from population.departments import FEED_DEPARTMENTS, Department  # noqa: F401


def _load_authority() -> dict[str, str]:
    text = resources.files("population.sync").joinpath("data/authority.json").read_text("utf-8")
    raw = json.loads(text)
    matrix = {field: entry["department"] for field, entry in raw["fields"].items()}
    unknown = set(matrix.values()) - set(Department.values)
    if unknown:
        raise ValueError(f"authority.json names unknown departments: {sorted(unknown)}")
    return matrix


# field ("person.name", "fact.death", ...) -> department code
AUTHORITY: dict[str, str] = _load_authority()


def authoritative_department(field: str) -> str:
    """The department whose value of ``field`` wins; KeyError for a field not in the matrix."""
    return AUTHORITY[field]


def is_authoritative(department: str, field: str) -> bool:
    return AUTHORITY.get(field) == department
