"""Versioned, dated policies: one immutable row per city and version, in force from a date.

Points policies (``residence_permit.PointsPolicy``) and settlement rule sets
(``settlement.RuleSet``) are stored and looked up the same way: a file is loaded once (the same
file again changes nothing, other content under a stored version is refused: a changed policy
is a new version), and the version in force on a day is the latest one started by then and not
yet ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction

from population.errors import Conflict


def policy_version_store(
    model: Any,
    data: dict[str, Any],
    fields: dict[str, Any],
    *,
    refusal: tuple[str, str, str],
    before_create: Callable[[], None] | None = None,
    on_other_content: Callable[[Any], Any | None] | None = None,
) -> tuple[Any, bool]:
    """Store the version ``data`` names (its ``city_code`` and ``version``) with ``fields``;
    returns (row, created).

    ``model`` may be a migration's historical model. ``before_create`` may refuse a new version
    (an overlapping window); ``on_other_content`` may accept other content under a stored
    version by returning the updated row; otherwise it is refused with ``refusal``
    (Chinese message, English message, code).
    """
    city_code, version = data["city_code"], data["version"]
    with transaction.atomic():
        existing = (
            model.objects.select_for_update().filter(city_code=city_code, version=version).first()
        )
        if existing is None:
            if before_create is not None:
                before_create()
            return model.objects.create(city_code=city_code, version=version, **fields), True
        if all(getattr(existing, k) == v for k, v in fields.items()):
            return existing, False
        if on_other_content is not None:
            updated = on_other_content(existing)
            if updated is not None:
                return updated, False
        message_zh, message_en, code = refusal
        raise Conflict(message_zh, message_en, code=code)


def policy_version_in_force(model: Any, *, city_code: str, on: dt.date) -> Any | None:
    """The version of a city's policy in force on a day, or None."""
    return (
        model.objects.filter(city_code=city_code, effective_from__lte=on)
        .exclude(effective_to__lt=on)
        .order_by("-effective_from")
        .first()
    )
