"""Population balance of the registered population per month and area.

opening + births + moves in − deaths − moves out ± other changes = closing

The events come from the balance sources the owning apps register on ``balance_source_hook``
(the registry registers its registration events, read by its own selector): the statistics
hold no SQL on a higher app's tables and import no higher app. Each event says which flow it
feeds (``births``, ``moves_in``, ``deaths``, ``moves_out`` or ``other``) and whether it left
and/or entered the area. Opening and closing are the stored snapshots; the persons behind any
imbalance are found by comparing the stock at both ends person by person with the month's
events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from population.errors import NotFound
from population.hooks import Hook
from population.identity import mask_citizen_id
from population.statistics.compute import CURRENT_SOURCE, HISTORY_SOURCE
from population.statistics.models import SnapshotSource, StatSnapshot
from population.statistics.selectors import region_get
from population.statistics.services import month_parse

DIGITS = {2: 4, 3: 6, 4: 9}
FLOWS = ("births", "moves_in", "deaths", "moves_out", "other")


@dataclass(frozen=True)
class BalanceSource:
    """Events of one kind of record that change the registered stock of an area.

    ``events(prefix=, first=, last=)`` returns, in order, the events dated ``first`` to
    ``last`` that leave or enter the area whose region codes start with ``prefix``, each a dict
    with ``id``, ``kind``, ``person_id``, ``effective_date``, ``out_of``, ``into`` (booleans)
    and ``flow`` (one of ``FLOWS``; ``other`` counts net per area).
    """

    name: str
    events: Callable[..., list[dict[str, Any]]]


balance_source_hook: Hook[BalanceSource] = Hook("statistics.balance_sources")

STOCK_SQL = """
SELECT id FROM ({source}) p
 WHERE p.status = 'active' AND left(p.hukou_region_id, %(digits)s) = %(prefix)s
"""


def _stock(prefix: str, digits: int, month: dt.date, from_history: bool) -> set[int]:
    cutoff = timezone.make_aware(dt.datetime.combine(month + dt.timedelta(days=1), dt.time.min))
    source = HISTORY_SOURCE if from_history else CURRENT_SOURCE
    with connection.cursor() as cursor:
        cursor.execute(
            STOCK_SQL.format(source=source), {"prefix": prefix, "digits": digits, "cutoff": cutoff}
        )
        return {row[0] for row in cursor.fetchall()}


def balance_compute(*, region_code: str, month: str | dt.date) -> dict[str, Any]:
    """The balance of one area in one month, with the records behind any imbalance."""
    last = month_parse(month)
    first = last.replace(day=1)
    region = region_get(region_code)
    digits = DIGITS[region.level]
    prefix = region.code[:digits]
    closing_row = StatSnapshot.objects.filter(month=last, region_code=region.code).first()
    if closing_row is None:
        raise NotFound(
            f"{region.name} {last:%Y-%m} 暂无统计快照，无法计算平衡表",
            f"no snapshot of {region.code} for {last:%Y-%m}: take it first",
            code="no_data",
        )
    previous = first - dt.timedelta(days=1)
    opening_row = StatSnapshot.objects.filter(month=previous, region_code=region.code).first()
    opening_stock = _stock(prefix, digits, previous, from_history=True)
    opening = opening_row.registered_total if opening_row else len(opening_stock)
    closing = closing_row.registered_total

    events = [
        event
        for source in balance_source_hook
        for event in source.events(prefix=prefix, first=first, last=last)
    ]
    flows = dict.fromkeys(FLOWS, 0)
    for e in events:
        into, out_of = bool(e["into"]), bool(e["out_of"])
        if e["flow"] in ("births", "moves_in"):
            flows[e["flow"]] += into
        elif e["flow"] in ("deaths", "moves_out"):
            flows[e["flow"]] += out_of
        else:  # moves within the city, collective settlements, splits, merges: net per area
            flows["other"] += into - out_of
    expected = (
        opening
        + flows["births"]
        + flows["moves_in"]
        - flows["deaths"]
        - flows["moves_out"]
        + flows["other"]
    )
    result: dict[str, Any] = {
        "region_code": region.code,
        "region_name": region.name,
        "month": last.strftime("%Y-%m"),
        "opening": opening,
        **flows,
        "closing": closing,
        "imbalance": closing - expected,
        # Residence records carry no events: the resident stock change is shown, not explained.
        "resident_opening": opening_row.resident_total if opening_row else None,
        "resident_closing": closing_row.resident_total,
        "unexplained": [],
        "events": [],
    }
    if result["imbalance"]:
        closing_stock = _stock(
            prefix, digits, last, from_history=closing_row.source == SnapshotSource.HISTORY
        )
        with_events = {e["person_id"] for e in events}
        changed = (closing_stock ^ opening_stock) - with_events
        from population.models import Person

        people = Person.objects.in_bulk(changed)
        result["unexplained"] = [
            {
                "person_id": pk,
                "citizen_id": mask_citizen_id(people[pk].citizen_id) if pk in people else "",
                "change": "arrived" if pk in closing_stock else "left",
            }
            for pk in sorted(changed)
        ]
        result["events"] = [
            {**e, "effective_date": e["effective_date"].isoformat()} for e in events
        ]
    return result
