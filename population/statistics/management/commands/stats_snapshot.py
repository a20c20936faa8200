"""Take the statistics snapshot of one month end."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.statistics.services import snapshot_take


class Command(BaseCommand):
    help = (
        "生成某月末的统计快照（覆盖该月原有快照）。 "
        "Take the statistics snapshot of one month end (replaces it)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="月份 YYYY-MM / month YYYY-MM")
        parser.add_argument(
            "--from-history",
            action="store_true",
            help="从历史表回溯 / reconstruct from the history table",
        )

    def handle(self, *args, month, from_history, **options):
        try:
            count = snapshot_take(month=month, from_history=True if from_history else None)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{month}: {count} 个区域 / areas")
