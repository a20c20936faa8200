"""Ingest one department feed file through the sync pipeline, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from population.errors import DomainError
from population.sync import services
from population.sync.departments import FEED_DEPARTMENTS
from population.sync.models import Batch, BatchSource, BatchStatus


def _file_blocks(path: Path):
    """The file in blocks: it is never held whole (see ``parsing.blocks_of``)."""
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            yield block


class Command(BaseCommand):
    help = (
        "导入一个部门数据文件（CSV或JSON Lines）：暂存、校验、写入并显示进度；同一文件重复导入"
        "不会改变任何数据；中断后再次运行同一命令，从最后提交的分块继续。/ Ingest one department "
        "feed file (CSV or JSON Lines): stage, validate, apply with a progress bar; the same "
        "file twice changes nothing; after a crash, the same command resumes the batch."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="数据文件 / feed file")
        parser.add_argument(
            "--department",
            required=True,
            choices=[d.value for d in FEED_DEPARTMENTS],
            help="报送部门 / sending department",
        )
        parser.add_argument(
            "--feed", help="数据项（默认取文件名前缀）/ feed kind (default: file name prefix)"
        )
        parser.add_argument("--format", choices=["csv", "jsonl"], help="默认取扩展名 / format")
        parser.add_argument("--schema-version", type=int, help="JSON Lines 格式版本 / version")
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help=(
                "批次正由其他进程处理时立即退出，而不是等待其完成或租约过期后接管 / exit at once "
                "when another process holds the batch, instead of waiting for it to finish or "
                "for its lease to lapse (a crashed run) and taking over"
            ),
        )
        parser.add_argument(
            "--encoding",
            help="文件编码 utf-8 或 gbk（默认自动识别）/ declared encoding (default: detected)",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="交给 Celery 处理而不在本进程处理 / leave processing to the Celery workers",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在 / no such file: {path}")
        try:
            batch = services.batch_receive(
                department=options["department"],
                content=lambda: _file_blocks(path),
                filename=path.name,
                fmt=options["format"],
                source=BatchSource.COMMAND,
                feed=options["feed"],
                schema_version=options["schema_version"],
                enqueue=options["queue"],
                encoding=options["encoding"],
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        if options["queue"] or batch.status in (BatchStatus.DONE, BatchStatus.QUARANTINED):
            self._report(batch)
            return
        bar = tqdm(
            total=100, unit="%", desc=f"batch #{batch.pk}", disable=options["verbosity"] == 0
        )

        def progress(b):
            bar.update(b.percent - bar.n)

        try:
            batch = self._process(batch, progress, wait=not options["no_wait"])
        except DomainError as exc:
            batch = services.batch_record_failure(batch_id=batch.pk, error=str(exc), final=True)
        finally:
            bar.close()
        self._report(batch)

    def _process(self, batch, progress, *, wait: bool):
        """Run the batch here; a batch held by another process (a crashed run of this command
        whose lease has not lapsed yet, or a Celery worker) is waited for, then taken over or
        reported as that process left it."""
        told = False
        while True:
            try:
                return services.batch_process(batch_id=batch.pk, progress=progress)
            except services.LeaseLost:
                raise CommandError(
                    f"批次{batch.pk}已由其他进程接管 / batch {batch.pk} was taken over elsewhere"
                ) from None
            except services.BatchBusy:
                held = Batch.objects.defer("content").get(pk=batch.pk)
                if not wait:
                    raise CommandError(
                        f"批次{batch.pk}正由其他进程处理（{held.lease_owner}）/ batch {batch.pk} "
                        f"is being processed elsewhere ({held.lease_owner})"
                    ) from None
                if not told:
                    until = held.lease_expires_at.isoformat() if held.lease_expires_at else "-"
                    self.stderr.write(
                        f"批次{batch.pk}正由{held.lease_owner or '其他进程'}处理，租约至{until}；"
                        "等待其完成或租约过期后接管 / batch held elsewhere: waiting for it to "
                        "finish or for its lease to lapse"
                    )
                    told = True
                time.sleep(1)

    def _report(self, batch):
        self.stdout.write(
            f"batch #{batch.pk} {batch.status}: received {batch.received}, applied "
            f"{batch.applied}, unchanged {batch.unchanged}, rejected {batch.rejected}"
            + (f"; {batch.last_error}" if batch.last_error else "")
        )
