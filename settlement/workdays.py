"""Working days (工作日) by the holiday calendar in ``settlement/data/holidays.json``.

A day is a working day when it is a weekday and not a listed holiday, or when it is a listed
adjusted working day (调休上班的周末). Years not in the file count weekends only.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

CALENDAR = Path(__file__).resolve().parent / "data" / "holidays.json"


@cache
def _calendar() -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    data = json.loads(CALENDAR.read_text(encoding="utf-8"))
    holidays = frozenset(dt.date.fromisoformat(d) for d in data["holidays"])
    workdays = frozenset(dt.date.fromisoformat(d) for d in data["workdays"])
    if holidays & workdays:
        raise ValueError(f"{CALENDAR.name}: a day is both holiday and working day")
    return holidays, workdays


def is_working_day(day: dt.date) -> bool:
    holidays, workdays = _calendar()
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The day ``days`` working days after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    while days:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day
