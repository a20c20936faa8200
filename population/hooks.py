"""One way for a higher app to plug something into a lower one: a named ``Hook``.

``population`` (and every lower layer) never imports the apps above it. Where it needs what
they own — statistics figures, demo loaders, person-page buttons and sections, API endpoints,
change kinds, facts a department may ask about — it declares a hook, and the owning app
registers its items from its ``AppConfig.ready``::

    # lower layer
    figure_hook: Hook[Figure] = Hook("statistics.figures")

    # higher app, in ready()
    figure_hook.register(Figure(name="permits_active", ...))

Every hook keeps its items in registration order, keyed by ``key(item)`` (the item's
``name`` unless the hook says otherwise). Registering the same item again is a no-op (ready()
may run more than once in tests); registering a different item under a taken key is an error,
so two apps cannot silently claim one name. The naming style is ``<thing>_hook`` for the
object and ``<thing>_hook.register(...)`` at the call site.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _name(item: Any) -> str:
    return item.name


class Hook(Generic[T]):
    def __init__(self, name: str, *, key: Callable[[T], str] = _name) -> None:
        self.name = name
        self._key = key
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        """Add ``item``; returns it, so a hook can also be used as a decorator."""
        key = self._key(item)
        existing = self._items.get(key)
        if existing is not None and existing != item:
            raise ValueError(f"{self.name}: {key!r} is registered twice")
        self._items.setdefault(key, item)
        return item

    def unregister(self, key: str) -> None:
        """Remove ``key`` (tests that register a temporary item take it out again)."""
        self._items.pop(key, None)

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def __getitem__(self, key: str) -> T:
        """The item under ``key``; ``KeyError`` when none is registered."""
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._items)} items)"
