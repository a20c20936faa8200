"""Export, verify and drop the access-log months past retention."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from population.audit_archive import access_log_archive
from population.db_roles import connected_as_owner

STATUS = {
    "archived": "已归档 / archived",
    "due": "待归档 / due",
    "unsealed": "有未封存记录，未归档 / unsealed rows, not archived",
    "failed": "导出文件核验失败，未删除 / export failed verification, not dropped",
}


class Command(BaseCommand):
    help = (
        "查阅日志保留期（AUDIT_RETENTION_MONTHS 个月）以前的月份：连同签名检查点导出为压缩文件"
        "（AUDIT_ARCHIVE_DIR），读回核验无误后才从数据库删除该月分区；中途失败则该月仍完整留在"
        "数据库中。可重复运行。 "
        "For access-log months older than AUDIT_RETENTION_MONTHS: export each with its signed "
        "checkpoints to a compressed file in AUDIT_ARCHIVE_DIR, read it back and verify it, and "
        "only then drop the month's partition; a failure leaves the month whole in the "
        "database. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="只列出到期的月份，不导出、不删除 / list the months due, change nothing",
        )

    def handle(self, *args, dry_run, **options):
        with connected_as_owner():
            run = access_log_archive(dry_run=dry_run)
        if not run.months:
            self.stdout.write("没有超过保留期的月份 / no month is past retention")
        for m in run.months:
            line = f"{m.month:%Y-%m} {STATUS[m.status]}"
            if m.rows:
                line += f" {m.rows} 条 / rows"
            if m.file:
                line += f" {m.file}"
            if m.detail:
                line += f" — {m.detail}"
            self.stdout.write(line)
        if any(m.status == "failed" for m in run.months):
            raise CommandError("有月份的归档未通过核验 / an export failed verification")
