"""A process that starts the project (a command, a worker) does not carry the libraries only a
few pages need: matplotlib (charts) and pypinyin (pinyin search, name quality) are imported
where they are used. Measured in bench (bench/peak_memory.py): ``manage.py`` alone peaks at
about 110 MiB with them lazy, 202 MiB without."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "pypinyin")


def test_starting_the_project_imports_no_chart_or_pinyin_library():
    # Everything a request can reach is imported: the settings, every app and every URL.
    code = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
        "django.setup()\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import config.celery\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout


def test_the_chart_and_pinyin_code_still_reach_their_libraries():
    from population.search import pinyin_pattern
    from population.statistics import charts
    from registry.quality.names import homophone_key

    svg = charts.pyramid_chart({"groups": ["0-4", "5-9"], "male": [3, 2], "female": [1, 4]})
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert homophone_key("张伟") == "zhang wei"
    assert "张" in pinyin_pattern("zhang")
