"""Dates and numbers of the permit rules, in one place (see docs/residence-permits.md)."""

from __future__ import annotations

import calendar
import datetime as dt

# 《居住证暂行条例》第二条: residence of at least half a year before applying.
MIN_RESIDENCE_MONTHS = 6
# 第十四条: endorse "在居住每满一年之日前30日内" (within the 30 days before each anniversary).
ENDORSE_WINDOW_DAYS = 30
# Interpretation: a permit not endorsed by its anniversary stays usable this many days (late
# but continuous), then lapses (使用功能中止). The regulation itself sets no grace period.
GRACE_DAYS = 30
# Interpretation: the regulation leaves validity to the provinces; popbase issues for 3 years.
VALIDITY_YEARS = 3
# 第九条: under 16, a guardian or close relative applies on the person's behalf.
PROXY_BELOW_AGE = 16
ADULT_AGE = 18


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later; a day the target month lacks becomes its last day.

    31 Aug + 6 months = 28/29 Feb; 29 Feb + 12 months = 28 Feb of a common year.
    """
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: dt.date, years: int) -> dt.date:
    return add_months(day, 12 * years)


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Completed years; someone born on 29 Feb turns a year older on 1 Mar of common years."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def endorsement_window(due: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day an endorsement counts as on time for the anniversary ``due``."""
    return due - dt.timedelta(days=ENDORSE_WINDOW_DAYS), due


def lapse_day(due: dt.date) -> dt.date:
    """The first day a permit still not endorsed for ``due`` is lapsed."""
    return due + dt.timedelta(days=GRACE_DAYS + 1)


def whole_years_between(start: dt.date, end: dt.date) -> int:
    """Completed years from ``start`` to ``end`` (anniversaries clamp to the month's last day)."""
    if end < start:
        return 0
    years = end.year - start.year
    while years > 0 and add_years(start, years) > end:
        years -= 1
    return years


def whole_months_between(start: dt.date, end: dt.date) -> int:
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + end.month - start.month
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months


# -- permit numbers -----------------------------------------------------------------------------

SERIAL_DIGITS = 6


def permit_number_check_char(body: str) -> str:
    """ISO 7064 MOD 11-2 over the 16 digits (as the citizen ID uses over its 17)."""
    n = len(body)
    total = sum(int(ch) * pow(2, n - i, 11) for i, ch in enumerate(body))
    return "10X98765432"[total % 11]


def permit_number_format(county_code: str, year: int, serial: int) -> str:
    """``CCCCCC`` county + ``YYYY`` issue year + ``NNNNNN`` serial + check character (17)."""
    body = f"{county_code}{year:04d}{serial:0{SERIAL_DIGITS}d}"
    return body + permit_number_check_char(body)


def permit_number_is_valid(number: str) -> bool:
    return (
        len(number) == 17
        and number[:16].isdigit()
        and permit_number_check_char(number[:16]) == number[16]
    )
