"""One way to run a state-machine transition, and one error when it is refused.

Statuses are declared once per model (a ``TRANSITIONS`` table driving both django-fsm and a
database trigger); services change a status only through ``transit``. A step the current
status does not allow — out of order, or already taken by someone else acting at the same time
— is refused with ``TRANSITION_REFUSED`` before anything is written.
"""

from __future__ import annotations

from typing import Any

from django_fsm import can_proceed

from population.errors import Conflict

TRANSITION_REFUSED = "bad_transition"


def transit(obj: Any, method: str, message_zh: str, message_en: str) -> None:
    """Run ``obj.<method>()`` (a django-fsm transition) or refuse with a ``Conflict``.

    The messages may name the current status: ``{status}`` is its label (Chinese), ``{value}``
    its stored value. Nothing is saved here; the caller saves with ``update_fields``.
    """
    bound = getattr(obj, method)
    if not can_proceed(bound):
        status = {"status": obj.get_status_display(), "value": obj.status}
        raise Conflict(
            message_zh.format(**status), message_en.format(**status), code=TRANSITION_REFUSED
        )
    bound()
