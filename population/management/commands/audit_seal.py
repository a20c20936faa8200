"""Seal the access-log rows written since the last seal into the keyed, signed chain."""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand

from population.audit import access_log_seal


def _positive(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"批量大小应为正整数 / batch size must be a positive integer: {value!r}"
        )
    return int(value)


class Command(BaseCommand):
    help = (
        "封存查阅日志：把上次封存后写入的记录按顺序、分批接入带密钥的哈希链，并为每批写入签名检查点"
        "（数据库与检查点文件各一份）。可与定时任务同时运行，不会重复封存。 "
        "Seal the access-log rows written since the last seal into the keyed hash chain, in "
        "order and in batches, with a signed checkpoint per batch (in the database and in the "
        "checkpoint file). Safe to run while another sealer runs: no row is sealed twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=_positive,
            default=None,
            help="每批记录数（默认 AUDIT_SEAL_BATCH）/ rows per batch (default AUDIT_SEAL_BATCH)",
        )

    def handle(self, *args, batch_size, **options):
        result = access_log_seal(batch_size=batch_size, wait=True)
        self.stdout.write(
            f"已封存 {result.rows} 条，{result.batches} 批 / sealed {result.rows} rows "
            f"in {result.batches} batches"
        )
