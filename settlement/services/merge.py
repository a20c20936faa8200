"""Merging duplicate persons (registry.quality): what the settlement app keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from population.errors import require
from population.models import Person

if TYPE_CHECKING:
    pass
from settlement.models import OPEN_STATUSES, Application

# -- merging duplicate persons (registry.quality) ---------------------------------------------

# Applications stay on the row they were made for (they also carry the citizen ID as applied).
MERGE_KEPT_REFERENCES = frozenset(
    {"settlement.Application.person", "settlement.ApplicationMember.person"}
)


def settlement_merge_guard(*, survivor: Person, duplicate: Person) -> None:
    """Refuse to merge away a person with a settlement application still open."""
    require(
        not Application.objects.filter(
            citizen_id=duplicate.citizen_id, status__in=OPEN_STATUSES
        ).exists(),
        "重复人员有办理中的落户申请，须先办结或撤回",
        "the duplicate has an open settlement application; finish or withdraw it first",
        "duplicate_has_settlement",
    )
