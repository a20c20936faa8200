"""Population balance of one area and month, with the records behind any imbalance."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from population.audit import access_log_record
from population.errors import DomainError
from population.statistics.balance import balance_compute


class Command(BaseCommand):
    help = (
        "户籍人口平衡表：期初＋出生＋迁入－死亡－迁出±其他＝期末；"
        "不平衡时列出相关记录（有不平衡时退出码非零）。 "
        "Registered-population balance of an area and month; lists the records behind any "
        "imbalance (non-zero exit when unbalanced)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="区划代码 / area code")
        parser.add_argument("--month", required=True, help="月份 YYYY-MM / month YYYY-MM")

    def handle(self, *args, region, month, **options):
        try:
            b = balance_compute(region_code=region, month=month)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{b['region_name']} {b['month']}: 期初/opening {b['opening']} + 出生/births "
            f"{b['births']} + 迁入/in {b['moves_in']} − 死亡/deaths {b['deaths']} − 迁出/out "
            f"{b['moves_out']} ± 其他/other {b['other']} = {b['closing'] - b['imbalance']}; "
            f"期末/closing {b['closing']}; 差额/imbalance {b['imbalance']}"
        )
        if not b["imbalance"]:
            return
        if b["unexplained"]:
            access_log_record(
                user=None,
                channel="command.stats_balance",
                purpose="人口平衡表核查 / balance check",
                person_ids=[u["person_id"] for u in b["unexplained"]],
                fields=["citizen_id"],
            )
        for u in b["unexplained"]:
            self.stdout.write(f"  无登记事项 / no event: {u['citizen_id']} {u['change']}")
        for e in b["events"]:
            self.stdout.write(f"  事项/event {e['id']} {e['kind']} {e['effective_date']}")
        raise CommandError(f"不平衡 {b['imbalance']} / imbalance {b['imbalance']}")
