"""Who acts: a signed-in officer, or the system (a job, a command, a department feed).

Services take ``actor``: a staff user, or ``None``/an anonymous user for the system. A record
naming who did it stores ``officer_or_none(actor)``; a step only a person may take (the window's
acceptance, an approval) begins with ``require_officer(actor)``.
"""

from __future__ import annotations

from typing import Any

from population.errors import require


def officer_or_none(actor: Any) -> Any | None:
    """The acting user to record, or ``None`` when the system acts."""
    return actor if getattr(actor, "pk", None) else None


def require_officer(actor: Any) -> Any:
    """Refuse (``officer_required``) unless a signed-in user acts; returns that user."""
    require(
        getattr(actor, "pk", None) is not None,
        "须由登录的民警办理",
        "an identified officer must do this",
        "officer_required",
    )
    return actor
