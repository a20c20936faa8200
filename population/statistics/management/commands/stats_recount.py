"""Recount one month from the records and report every difference from its snapshot."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.statistics.services import snapshot_recount_check


class Command(BaseCommand):
    help = (
        "从原始记录重新计数并与统计快照核对，列出全部差异（有差异时退出码非零）。 "
        "Recount a month from the records and list every difference from its snapshot "
        "(non-zero exit when any)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="月份 YYYY-MM / month YYYY-MM")

    def handle(self, *args, month, **options):
        try:
            differences = snapshot_recount_check(month=month)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        for d in differences:
            self.stdout.write(
                f"{d['region_code']} {d['field']}: "
                f"快照/stored={d['stored']} 重算/recount={d['recount']}"
            )
        if differences:
            raise CommandError(f"{len(differences)} 处差异 / differences")
        self.stdout.write("快照与重算一致 / snapshot equals the recount")
