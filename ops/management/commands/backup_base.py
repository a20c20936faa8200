"""Take a base backup into BACKUP_DIR, check it, then apply the retention."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, backup_dir, backups_prune, base_backup_take


class Command(BaseCommand):
    help = (
        "基础备份：pg_basebackup 写入 BACKUP_DIR/base/（WAL 一并流入），用 pg_verifybackup 校验，"
        "然后按 BACKUP_KEEP_BASE 保留最近几份并清理只有旧备份才需要的归档 WAL。需要 REPLICATION "
        "权限的角色（BACKUP_DATABASE_URL，默认 DATABASE_URL）。 "
        "Base backup: pg_basebackup into BACKUP_DIR/base/ (WAL streamed in), checked with "
        "pg_verifybackup; then keep the newest BACKUP_KEEP_BASE and remove the archived WAL only "
        "older backups needed. Needs a role with REPLICATION (BACKUP_DATABASE_URL, default "
        "DATABASE_URL)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="保留的基础备份份数（默认 BACKUP_KEEP_BASE）/ base backups to keep",
        )
        parser.add_argument(
            "--no-prune", action="store_true", help="不清理旧备份 / keep every older backup"
        )

    def handle(self, *args, keep, no_prune, **options):
        folder = backup_dir()
        if folder is None:
            raise CommandError("未设置 BACKUP_DIR / BACKUP_DIR is not set")
        url = settings.BACKUP_DATABASE_URL or settings.DATABASE_URL
        url = url.replace("postgres://", "postgresql://", 1)
        try:
            taken = base_backup_take(url, folder)
            self.stdout.write(
                f"基础备份完成 / base backup done: {taken.path} "
                f"({taken.finished_at:%Y-%m-%d %H:%M:%S} UTC, WAL {taken.start_wal})"
            )
            if not no_prune:
                removed = backups_prune(folder, keep=keep or settings.BACKUP_KEEP_BASE)
                for path in removed:
                    self.stdout.write(f"已删除旧备份 / removed {Path(path).name}")
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
