"""Create the monthly partitions of the current month and the months ahead."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from population.db_roles import connected_as_owner
from population.partitions import partitions_ensure


def _months(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > 120:
        raise argparse.ArgumentTypeError(
            f"月数应为 0–120 的整数 / months must be an integer from 0 to 120: {value!r}"
        )
    return int(value)


class Command(BaseCommand):
    help = (
        "为每张按月分区的表（查阅日志及其人员索引等）创建本月和之后若干个月的分区，以及默认分区；"
        "已有的分区不动，可重复运行，也可与定时任务同时运行。 "
        "Create this month's partition and the next months' (and the default partition) for "
        "every table partitioned by month (the access log and its per-person index, ...). "
        "Existing partitions are left alone; safe to run again or while the daily job runs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ahead",
            type=_months,
            default=None,
            help="提前创建的月数（默认 PARTITIONS_AHEAD_MONTHS）/ months ahead "
            "(default PARTITIONS_AHEAD_MONTHS)",
        )

    def handle(self, *args, ahead, **options):
        with connected_as_owner():
            created = partitions_ensure(ahead=ahead)
        names = [name for found in created.values() for name in found]
        self.stdout.write(
            f"新建分区 {len(names)} 个 / created {len(names)} partitions"
            + (": " + ", ".join(names) if names else "")
        )
