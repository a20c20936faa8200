"""Figures owned by higher apps (residence permits, settlements), plugged in at run time.

``population`` must not import those apps, so they register here (e.g. in their
``AppConfig.ready``): ``register_figure("permits_active", title_zh, title_en, func)`` where
``func(region_code: str, month: datetime.date) -> int | dict``. Until an app registers, the
figure is reported as pending, never as a number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

PENDING_FIGURES = {
    "permits_issued": ("居住证签发数", "residence permits issued"),
    "permits_active": ("有效居住证数", "residence permits active"),
    "settlements_by_channel": ("分渠道落户数", "settlements by channel"),
}

_registry: dict[str, tuple[str, str, Callable[[str, dt.date], Any]]] = {}


def register_figure(
    name: str, title_zh: str, title_en: str, func: Callable[[str, dt.date], Any]
) -> None:
    _registry[name] = (title_zh, title_en, func)


def unregister_figure(name: str) -> None:
    _registry.pop(name, None)


def _shown(value: Any) -> Any:
    """A breakdown (``{"channel": n}``) as one readable cell; numbers as they are."""
    if isinstance(value, dict):
        return "；".join(f"{key} {count}" for key, count in value.items()) or "0"
    return value


def extra_figures(*, region_code: str, month: dt.date) -> list[dict[str, Any]]:
    """Every known extra figure: its value from the registered app, or ``pending``."""
    out = []
    for name in sorted(set(PENDING_FIGURES) | set(_registry)):
        if name in _registry:
            title_zh, title_en, func = _registry[name]
            out.append(
                {
                    "name": name,
                    "title_zh": title_zh,
                    "title_en": title_en,
                    "status": "ok",
                    "value": _shown(func(region_code, month)),
                }
            )
        else:
            title_zh, title_en = PENDING_FIGURES[name]
            out.append(
                {
                    "name": name,
                    "title_zh": title_zh,
                    "title_en": title_en,
                    "status": "pending",
                    "value": None,
                }
            )
    return out
