"""Snapshot every month end in a range (past months from the history table)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.statistics.services import month_parse, months_between, snapshot_backfill


class Command(BaseCommand):
    help = (
        "回溯生成过去各月的统计快照（每月一个事务，显示进度）。 "
        "Backfill statistics snapshots for past months (one transaction per month, with progress)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="first", required=True, help="起始月份 YYYY-MM / first month"
        )
        parser.add_argument(
            "--to", dest="last", required=True, help="结束月份 YYYY-MM / last month"
        )

    def handle(self, *args, first, last, **options):
        try:
            total = len(months_between(month_parse(first), month_parse(last)))
            if total == 0:
                raise CommandError("起始月份晚于结束月份 / --from is after --to")
            done = [0]

            def progress(month, count):
                done[0] += 1
                self.stdout.write(f"[{done[0]}/{total}] {month:%Y-%m}: {count} 个区域 / areas")

            snapshot_backfill(first=first, last=last, progress=progress)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
