"""Figures owned by higher apps (residence permits, settlements), plugged in at run time.

The statistics never import those apps: each registers its figures on ``figure_hook`` from its
``AppConfig.ready``::

    figure_hook.register(Figure("permits_active", "有效居住证数", "residence permits active",
                                permits_active_at))

where ``compute(region_code: str, month: datetime.date) -> int | dict``. A figure whose app is
not installed is simply absent. An app may declare a figure it cannot compute yet (no
``compute``): it is reported as pending, never as a number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from population.hooks import Hook


@dataclass(frozen=True)
class Figure:
    name: str
    title_zh: str
    title_en: str
    compute: Callable[[str, dt.date], Any] | None = None  # None: declared, not yet computed


figure_hook: Hook[Figure] = Hook("statistics.figures")


def _shown(value: Any) -> Any:
    """A breakdown (``{"channel": n}``) as one readable cell; numbers as they are."""
    if isinstance(value, dict):
        return "；".join(f"{key} {count}" for key, count in value.items()) or "0"
    return value


def extra_figures(*, region_code: str, month: dt.date) -> list[dict[str, Any]]:
    """Every registered figure, by name: its value from the owning app, or ``pending``."""
    return [
        {
            "name": figure.name,
            "title_zh": figure.title_zh,
            "title_en": figure.title_en,
            "status": "pending" if figure.compute is None else "ok",
            "value": None if figure.compute is None else _shown(figure.compute(region_code, month)),
        }
        for figure in sorted(figure_hook, key=lambda f: f.name)
    ]
