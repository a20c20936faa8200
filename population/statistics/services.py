"""Writes of the statistics: month-end snapshots (replace, idempotent) and the recount check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from population.errors import DomainError
from population.locks import advisory_xact_lock
from population.statistics.compute import COUNT_FIELDS, figures_compute, figures_recount, month_end
from population.statistics.models import SnapshotSource, StatSnapshot


def month_parse(value: str | dt.date) -> dt.date:
    """'2025-03' (or any date in it) → its month end; the month must not lie in the future."""
    if isinstance(value, dt.date):
        end = month_end(value.year, value.month)
    else:
        try:
            year, month = (int(part) for part in str(value).strip().split("-")[:2])
            end = month_end(year, month)
        except (ValueError, TypeError) as exc:
            raise DomainError(
                f"月份格式错误：{value!r}（应为 YYYY-MM）",
                f"bad month {value!r} (expected YYYY-MM)",
                code="bad_month",
            ) from exc
    today = timezone.localdate()
    if end.replace(day=1) > today:
        raise DomainError(
            f"月份 {end:%Y-%m} 尚未到来",
            f"month {end:%Y-%m} is in the future",
            code="month_in_future",
        )
    return end


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(month_end(year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@transaction.atomic
def snapshot_take(*, month: dt.date, from_history: bool | None = None) -> int:
    """Store the figures of every area at the month end ``month``; replaces that month's rows.

    ``from_history`` defaults to: current records for the current or just-ended month (the
    beat job runs right after the month end), the history table for older months.
    """
    month = month_parse(month)
    if from_history is None:
        today = timezone.localdate()
        last_ended = month_end(
            *((today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1))
        )
        from_history = month < last_ended
    # One writer per month: a beat run and a manual backfill of the same month serialize.
    advisory_xact_lock("popbase.stats", month.toordinal())
    areas = figures_compute(month=month, from_history=from_history)
    StatSnapshot.objects.filter(month=month).delete()
    source = SnapshotSource.HISTORY if from_history else SnapshotSource.CURRENT
    StatSnapshot.objects.bulk_create(
        StatSnapshot(
            month=month,
            region_code=code,
            level=area["level"],
            pyramid=area["pyramid"],
            source=source,
            **{field: area[field] for field in COUNT_FIELDS},
        )
        for code, area in sorted(areas.items())
    )
    return len(areas)


def snapshot_backfill(
    *, first: dt.date, last: dt.date, progress: Callable[[dt.date, int], None] | None = None
) -> list[tuple[dt.date, int]]:
    """Snapshot every month end from ``first`` to ``last``; one transaction per month."""
    done = []
    for month in months_between(month_parse(first), month_parse(last)):
        count = snapshot_take(month=month)
        done.append((month, count))
        if progress:
            progress(month, count)
    return done


def _stored(month: dt.date) -> dict[str, dict[str, Any]]:
    return {
        row.region_code: {
            "level": row.level,
            "pyramid": row.pyramid,
            **{field: getattr(row, field) for field in COUNT_FIELDS},
        }
        for row in StatSnapshot.objects.filter(month=month)
    }


def snapshot_recount_check(*, month: dt.date) -> list[dict[str, Any]]:
    """Every difference between the stored snapshot of ``month`` and a recount from the records.

    The recount counts the current records person by person, so it applies to a snapshot taken
    from current records (the month just ended) — older snapshots come from the history table.
    An empty list means the snapshot equals the recount.
    """
    month = month_parse(month)
    stored, counted = _stored(month), figures_recount(month=month)
    differences = []
    for code in sorted(set(stored) | set(counted)):
        have, want = stored.get(code), counted.get(code)
        if have is None or want is None:
            differences.append(
                {
                    "region_code": code,
                    "field": "*",
                    "stored": have and "row",
                    "recount": want and "row",
                }
            )
            continue
        for field in ("level", *COUNT_FIELDS, "pyramid"):
            if have[field] != want[field]:
                differences.append(
                    {
                        "region_code": code,
                        "field": field,
                        "stored": have[field],
                        "recount": want[field],
                    }
                )
    return differences


def snapshot_demo_months(today: dt.date) -> str:
    """Demo loader: snapshots of the last 12 month ends, so the dashboard shows a series on
    the first login (the demo city is recorded 13 months back, see population.demo)."""
    last = month_end(*((today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)))
    first = month_end(*((last.year - 1, last.month + 1) if last.month < 12 else (last.year, 1)))
    done = snapshot_backfill(first=first, last=last)
    return f"{len(done)} 个月末统计快照 / month-end snapshots ({first:%Y-%m}–{last:%Y-%m})"
