"""Verify the access-log chain against the signed checkpoints; name the first break."""

from __future__ import annotations

import argparse
import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from population.audit import access_log_verify_record
from population.audit_archive import archive_file_verify
from population.models import AuditFinding

FINDINGS_EN = {
    AuditFinding.ALTERED: "altered",
    AuditFinding.MISSING: "missing",
    AuditFinding.EXTRA: "extra",
    AuditFinding.TRUNCATED: "truncated",
    AuditFinding.UNSEALED: "unsealed too long",
    AuditFinding.CHECKPOINT: "checkpoint",
}


def _date(value: str) -> dt.date:
    try:
        if len(value) != 10 or not value.isascii():
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"日期格式应为 YYYY-MM-DD / date must be YYYY-MM-DD: {value!r}"
        ) from None


class Command(BaseCommand):
    help = (
        "核验查阅日志：按序号逐条重算带密钥的哈希链，与签名检查点（数据库与检查点文件）对照，"
        "指出第一处断点及原因（被篡改、缺失、多出、末尾被删除、超时未封存）；有断点时退出码非零。"
        "结果记入“审计核验”页面。加 --file 时改为核验一个归档文件（audit_archive 导出）。 "
        "Verify the access log: recompute the keyed hash chain row by row against the signed "
        "checkpoints (database and checkpoint file) and name the first broken sequence number "
        "and why (altered, missing, extra, truncated, unsealed too long); non-zero exit when "
        "broken. The result is kept for the auditor's page. With --file, verify an exported month "
        "(audit_archive) against its own checkpoints and signed manifest instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from",
            dest="date_from",
            metavar="YYYY-MM-DD",
            type=_date,
            help="起始日期（按封存时间）YYYY-MM-DD / first day (by sealing time)",
        )
        parser.add_argument(
            "--to",
            dest="date_to",
            metavar="YYYY-MM-DD",
            type=_date,
            help="截止日期（含当日）YYYY-MM-DD / last day, inclusive",
        )
        parser.add_argument(
            "--file",
            dest="path",
            metavar="PATH",
            help="核验一个归档文件（.jsonl.gz）/ verify an exported month (.jsonl.gz)",
        )

    def handle(self, *args, date_from, date_to, path=None, **options):
        if path:
            if date_from or date_to:
                raise CommandError("--file 不能与 --from/--to 同用 / --file takes no dates")
            self._file(path)
            return
        if date_from and date_to and date_from > date_to:
            raise CommandError("起始日期晚于截止日期 / --from is after --to")
        result = access_log_verify_record(date_from=date_from, date_to=date_to, source="command")
        self._report(result, intact="查阅日志完好 / the access log is intact")

    def _file(self, path: str) -> None:
        import os

        if not os.path.isfile(path):
            raise CommandError(f"文件不存在 / no such file: {path}")
        self._report(archive_file_verify(path), intact="归档文件完好 / the exported file is intact")

    def _report(self, verdict, *, intact: str) -> None:
        """The counts, then the verdict: intact, or the first broken sequence number and why."""
        self.stdout.write(
            f"核验记录 {verdict.rows_checked} 条、检查点 {verdict.checkpoints_checked} 个 / "
            f"checked {verdict.rows_checked} rows, {verdict.checkpoints_checked} checkpoints"
        )
        if verdict.intact:
            self.stdout.write(intact)
            return
        where = f"序号 {verdict.seq} / sequence {verdict.seq}: " if verdict.seq else ""
        raise CommandError(
            f"{where}{AuditFinding(verdict.finding).label} / {FINDINGS_EN[verdict.finding]} — "
            f"{verdict.detail}"
        )
