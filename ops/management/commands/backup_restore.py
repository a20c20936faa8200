"""Restore the backups to a point in time into a new cluster, and verify the copy."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ops.backup import BackupError, backup_dir, restore_to_time, verify_restored


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"时间格式应为 ISO 8601 且带时区 / time must be ISO 8601 with a zone: {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise CommandError(f"时间须带时区，如 +08:00 / give a time zone, e.g. +08:00: {value!r}")
    return moment


class Command(BaseCommand):
    help = (
        "时间点恢复演练：把 BACKUP_DIR 中早于目标时间完成的最新基础备份复制到新的数据目录，"
        "重放归档 WAL 到该时间，在指定端口启动（仅本地套接字，不归档），然后核验：各表行数、"
        "查阅日志链对照签名检查点（audit_verify），可选某月统计重算（stats_recount）。"
        "正在运行的数据库不受影响。 "
        "Point-in-time restore drill: copy the newest base backup in BACKUP_DIR finished before "
        "the target time into a new data folder, replay the archived WAL to that time, start it "
        "on the given port (local socket only, no archiving), then verify it: row counts, the "
        "access-log chain against the signed checkpoints (audit_verify), optionally a month's "
        "statistics recount (stats_recount). The running database is not touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--into",
            required=True,
            type=Path,
            help="新数据目录（不存在或为空）/ new data folder (absent or empty)",
        )
        parser.add_argument(
            "--port", type=int, default=5433, help="新集群端口（默认 5433）/ port of the copy"
        )
        parser.add_argument(
            "--time",
            type=_moment,
            default=None,
            help="恢复到的时间，ISO 8601 带时区；省略则恢复到归档末尾 / target time, ISO 8601 "
            "with a zone; default the end of the archive",
        )
        parser.add_argument(
            "--recount-month",
            metavar="YYYY-MM",
            help="在副本中重算该月统计并与快照比较 / recount this month in the copy",
        )
        parser.add_argument(
            "--database",
            help="要核验的数据库名（默认 DATABASE_URL 中的库）/ database to verify in the copy "
            "(default: the one DATABASE_URL names)",
        )
        parser.add_argument(
            "--keep-running",
            action="store_true",
            help="核验后不停止副本 / leave the copy running after the checks",
        )

    def handle(self, *args, into, port, time, recount_month, database, keep_running, **options):
        folder = backup_dir()
        if folder is None:
            raise CommandError("未设置 BACKUP_DIR / BACKUP_DIR is not set")
        try:
            cluster = restore_to_time(folder, into.resolve(), port=port, target_time=time)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        try:
            self.stdout.write(
                f"已恢复 / restored from {cluster.base.path.name} into {cluster.data_dir}"
                f" (port {port})"
            )
            result = verify_restored(
                cluster,
                database=database or connection.settings_dict["NAME"],
                checkpoint_dir=Path(settings.AUDIT_CHECKPOINT_DIR),
                recount_month=recount_month,
            )
            self.stdout.write(json.dumps(result.counts, indent=1, sort_keys=True))
            self.stdout.write(
                f"检查点 {result.checkpoints_copied} 个在副本范围内，{result.checkpoints_later} 个"
                f"晚于恢复点 / {result.checkpoints_copied} checkpoints within the copy, "
                f"{result.checkpoints_later} later than the restore point"
            )
            self.stdout.write(result.audit_output)
            if result.recount_ok is not None:
                self.stdout.write(result.recount_output)
            if not result.ok:
                raise CommandError("副本核验未通过 / the restored copy failed verification")
            self.stdout.write("副本核验通过 / the restored copy verified")
        finally:
            if not keep_running:
                cluster.stop()
