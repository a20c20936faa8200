"""The departments popbase exchanges data with: one list, one code each.

The department sync (``population.sync``: who sends which feed, who is authoritative for which
field) and the sharing API (``population.sharing``: whose client reads what) both name a
department by these codes; the codes are stored in feed batches, facts, follow-ups and API
clients.
"""

from __future__ import annotations

from django.db import models


class Department(models.TextChoices):
    PSB = "psb", "公安"
    HRSS = "hrss", "人社"
    EDU = "edu", "教育"
    HOUSING = "housing", "住建"
    HEALTH = "health", "卫健"
    CIVIL = "civil", "民政"
    TAX = "tax", "税务"
    STATISTICS = "statistics", "统计"


# Departments that deliver feeds (公安 is the registry itself; 统计 only reads).
FEED_DEPARTMENTS = [d for d in Department if d not in (Department.PSB, Department.STATISTICS)]
