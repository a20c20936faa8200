"""Household registration events (户籍登记事项). Every write goes through here.

Each event is one transaction: lock the person (and the households it touches), check the
guards, change the memberships, keep ``Person.hukou_region`` current, and append a
``RegistrationEvent``. Two officers acting on the same person at once: the second waits for the
first's lock, then fails its guard with a clear error instead of acting on stale data.
"""

from __future__ import annotations

from registry.services._common import COLLECTIVE_KINDS, HEAD_RELATIONS
from registry.services.births_deaths import birth_register, citizen_id_allocate, death_cancel
from registry.services.corrections import (
    correction_approve,
    correction_propose,
    correction_refuse,
    relation_correct,
)
from registry.services.households import (
    head_change,
    household_close,
    household_create,
    household_split,
)
from registry.services.moves import (
    attach_to_relative,
    move_in,
    move_out,
    move_within_city,
    settle_into_collective,
)

__all__ = [
    "COLLECTIVE_KINDS",
    "HEAD_RELATIONS",
    "attach_to_relative",
    "birth_register",
    "citizen_id_allocate",
    "correction_approve",
    "correction_propose",
    "correction_refuse",
    "death_cancel",
    "head_change",
    "household_close",
    "household_create",
    "household_split",
    "move_in",
    "move_out",
    "move_within_city",
    "relation_correct",
    "settle_into_collective",
]
