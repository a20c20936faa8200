"""Celery tasks of the statistics: thin wrappers over services, idempotent.

The registered names keep the ``population.`` prefix they had before the statistics became an
app of their own: queued tasks, beat entries and the queue routes refer to them.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="population.stats_snapshot_month")
def stats_snapshot_month_task(month: str | None = None) -> dict[str, object]:
    """Snapshot the statistics of ``month`` (default: the month that has just ended); idempotent."""
    import datetime as dt

    from django.utils import timezone

    from population.statistics.services import snapshot_take

    if month is None:
        month = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return {"month": month, "areas": snapshot_take(month=month)}


@shared_task(name="population.stats_recount_check")
def stats_recount_check_task(month: str) -> dict[str, object]:
    """Recount ``month`` from the records and return every difference from its snapshot."""
    from population.statistics.services import snapshot_recount_check

    differences = snapshot_recount_check(month=month)
    return {"month": month, "differences": len(differences), "first": differences[:20]}
