"""Each city's urbanization targets, as written in its document in /work/shared/seeds/.

Progress compares the latest snapshot with the target; ``to_go`` is in percentage points (0 when
reached). A target on the gap is "at least N points smaller than in the base year": the
base-year gap must be given (``POPBASE_STATS_BASE_GAPS``, {city code: {year: points}}), as the
platform holds no figures from before its own records; without it the target is reported as
lacking its base.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings

from population.errors import NotFound
from population.models import Region
from population.statistics.models import StatSnapshot
from population.statistics.selectors import _figures

TARGETS: dict[str, dict[str, Any]] = {
    "441800000000": {
        "city": "清远市",
        "source": "《清远市人民政府关于进一步推进我市户籍制度改革的实施意见》（2015）",
        "file": "qingyuan-2015.txt",
        "quote": (
            "到2020年……全市常住人口城镇化率达到60%以上，"
            "户籍人口城镇化率与常住人口城镇化率差距明显缩小。"
        ),
        "year": 2020,
        "targets": [
            {"figure": "resident_rate", "op": ">=", "value": 60.0},
            # "明显缩小" names no number: shown as the gap's trend, no distance computed.
            {"figure": "gap", "op": "narrower", "value": None},
        ],
    },
    "530900000000": {
        "city": "临沧市",
        "source": "临政发〔2015〕112号《临沧市进一步推进户籍制度改革方案》",
        "file": "lincang-2015.txt",
        "quote": "户籍人口城镇化率达到38%左右，常住人口城镇化率达到50%左右。",
        "year": 2020,
        "targets": [
            {"figure": "registered_rate", "op": "~", "value": 38.0},
            {"figure": "resident_rate", "op": "~", "value": 50.0},
        ],
    },
    "440200000000": {
        "city": "韶关市",
        "source": "韶府办〔2017〕37号《韶关市推动非户籍人口在城市落户实施办法（试行）》",
        "file": "shaoguan-2017.txt",
        "quote": (
            "到2020年，全市户籍人口城镇化率提高到45%以上，"
            "户籍人口城镇化率与常住人口城镇化率差距较2013年缩小2个百分点以上。"
        ),
        "year": 2020,
        "targets": [
            {"figure": "registered_rate", "op": ">=", "value": 45.0},
            {"figure": "gap", "op": "reduce_by", "value": 2.0, "base_year": 2013},
        ],
    },
}


def _progress(
    target: dict[str, Any],
    figures: dict[str, Any],
    first_gap: float | None,
    base_gaps: dict[int, float],
) -> dict[str, Any]:
    figure, op, value = target["figure"], target["op"], target["value"]
    current = figures[figure]
    out = {**target, "current": current, "reached": None, "to_go": None}
    if current is None:
        return out
    if op in (">=", "~"):
        out["to_go"] = round(max(value - current, 0.0), 4)
        out["reached"] = current >= value if op == ">=" else abs(current - value) <= 1.0
    elif op == "reduce_by":
        base = base_gaps.get(target["base_year"])
        out["base_gap"] = base
        if base is not None:
            limit = base - value
            out["limit"] = round(limit, 4)
            out["to_go"] = round(max(current - limit, 0.0), 4)
            out["reached"] = current <= limit
    elif op == "narrower" and first_gap is not None:
        out["first_gap"] = first_gap
        out["change"] = round(current - first_gap, 4)
    return out


def targets_progress(*, region_code: str, month: dt.date | None = None) -> dict[str, Any]:
    """The city's targets with the current value, whether reached, and the distance to go."""
    if region_code not in TARGETS:
        raise NotFound(
            f"{region_code} 没有登记的城镇化目标",
            f"no urbanization targets recorded for {region_code}",
            code="no_targets",
        )
    entry = TARGETS[region_code]
    region = Region.objects.filter(code=region_code).first()
    rows = StatSnapshot.objects.filter(region_code=region_code).order_by("month")
    if month is not None:
        rows = rows.filter(month__lte=month)
    rows = list(rows)
    if region is None or not rows:
        raise NotFound(
            f"{entry['city']} 暂无统计快照",
            f"no statistics snapshot for {region_code}",
            code="no_data",
        )
    latest = _figures(rows[-1], region, suppress=False)
    first_gap = _figures(rows[0], region, suppress=False)["gap"]
    base_gaps = {
        int(y): float(v)
        for y, v in getattr(settings, "POPBASE_STATS_BASE_GAPS", {}).get(region_code, {}).items()
    }
    return {
        "city": entry["city"],
        "source": entry["source"],
        "quote": entry["quote"],
        "target_year": entry["year"],
        "month": latest["month"],
        "figures": latest,
        "targets": [_progress(t, latest, first_gap, base_gaps) for t in entry["targets"]],
    }
