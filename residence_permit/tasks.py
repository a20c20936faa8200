"""Celery tasks of the residence-permit app: thin, idempotent wrappers over services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from residence_permit import jobs


@shared_task(name="residence_permit.permits_daily")
def permits_daily_task(on: str | None = None) -> dict[str, int]:
    """Endorsement reminders, lapses and expiries for one day; a rerun changes nothing."""
    return jobs.permits_daily_job(on=dt.date.fromisoformat(on) if on else None)


@shared_task(name="residence_permit.points_recompute_changed")
def points_recompute_changed_task(on: str | None = None) -> dict[str, int]:
    """Recompute points of holders whose facts or permit changed; a rerun appends nothing."""
    return jobs.points_recompute_changed_job(on=dt.date.fromisoformat(on) if on else None)
