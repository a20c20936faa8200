"""Celery tasks of the settlement app: thin, idempotent wrappers over services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from settlement import services


@shared_task(name="settlement.transfer_permits_expire")
def transfer_permits_expire_task(on: str | None = None) -> int:
    """Expire unused transfer permits (准迁证) past their validity; a rerun changes nothing."""
    return services.permits_expire_due(on=dt.date.fromisoformat(on) if on else None)
