"""Charts drawn on the server with matplotlib (SVG for pages, PNG for the PDF if wanted).

A CJK font is needed or Chinese labels become boxes: Debian ``fonts-wqy-microhei`` (installed by
``make report-deps``) or ``fonts-noto-cjk``; the first one found is used.
"""

from __future__ import annotations

import io
from typing import Any

from population.pdf import CJK_FONTS

# matplotlib (about 100 MiB once imported) is imported where a chart is drawn, not when the
# project starts: every command and worker process would carry it otherwise.


def _font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def _setup():
    """matplotlib's pyplot, set up for Chinese labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _font()
    plt.rcParams["font.sans-serif"] = [font] if font else ["DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.fonttype"] = "path"  # text as outlines: the SVG needs no font to show
    return plt


def _out(fig, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def rates_over_time(series: list[dict[str, Any]], fmt: str = "svg") -> bytes:
    plt = _setup()
    fig, ax = plt.subplots(figsize=(7, 3))
    months = [s["month"] for s in series]
    ax.plot(months, [s["registered_rate"] for s in series], marker="o", label="户籍人口城镇化率")
    ax.plot(months, [s["resident_rate"] for s in series], marker="s", label="常住人口城镇化率")
    ax.set_ylabel("%")
    ax.set_title("城镇化率（按月）")
    ax.legend()
    ax.grid(alpha=0.3)
    return _out(fig, fmt)


def rates_by_area(areas: list[dict[str, Any]], fmt: str = "svg") -> bytes:
    plt = _setup()
    fig, ax = plt.subplots(figsize=(7, 3))
    names = [a["region_name"] for a in areas]
    xs = range(len(areas))
    ax.bar([x - 0.2 for x in xs], [a["registered_rate"] or 0 for a in areas], 0.4, label="户籍")
    ax.bar([x + 0.2 for x in xs], [a["resident_rate"] or 0 for a in areas], 0.4, label="常住")
    ax.set_xticks(list(xs), names, rotation=30, ha="right")
    ax.set_ylabel("%")
    ax.set_title("分地区城镇化率")
    ax.legend()
    return _out(fig, fmt)


def pyramid_chart(pyramid: dict[str, Any], fmt: str = "svg") -> bytes:
    plt = _setup()
    fig, ax = plt.subplots(figsize=(6, 5))
    groups = pyramid["groups"]
    ax.barh(groups, [-v for v in pyramid["male"]], color="#4a78b5", label="男")
    ax.barh(groups, pyramid["female"], color="#c8566b", label="女")
    ax.set_title("人口金字塔（常住人口）")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(int(v))}"))
    ax.legend()
    return _out(fig, fmt)
