"""Who acts: a signed-in officer, or the system (a job, a command, a department feed).

Services take ``actor: Actor``: a staff user, or ``None``/an anonymous user for the system. A
record naming who did it stores ``officer_or_none(actor)``; a step only a person may take (the
window's acceptance, an approval) begins with ``require_officer(actor)``, which returns the
user with its type narrowed for the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from population.errors import DomainError

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

# What the views (``request.user``), admin actions, tasks and commands pass: the user of the
# request, an anonymous user, or None when the system acts. A string, so modules import it at
# run time without loading the auth models early.
Actor: TypeAlias = "User | AnonymousUser | None"


def officer_or_none(actor: Actor) -> User | None:
    """The acting user to record, or ``None`` when the system acts."""
    from django.contrib.auth.models import AnonymousUser

    if actor is None or isinstance(actor, AnonymousUser) or not actor.pk:
        return None
    return actor


def require_officer(actor: Actor) -> User:
    """Refuse (``officer_required``) unless a signed-in user acts; returns that user."""
    officer = officer_or_none(actor)
    if officer is None:
        raise DomainError(
            "须由登录的民警办理", "an identified officer must do this", code="officer_required"
        )
    return officer
