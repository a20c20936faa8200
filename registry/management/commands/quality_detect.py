from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from population.errors import DomainError
from registry.quality.detectors import detector_hook
from registry.quality.services import quality_detect


class Command(BaseCommand):
    help = (
        "运行数据质量检测（疑似重复人员、多重户口、应销未销、信息与身份号码不符、信息缺漏、"
        "家庭户无户主），结果进入核查队列；可重复运行，不会重复立项，"
        "已排除的问题证据不变则不再打开。 "
        "Run the data-quality detectors over the whole population and update the review queue; "
        "safe to rerun: nothing is opened twice, and a dismissed finding reopens only when its "
        "evidence changes."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--detector",
            action="append",
            choices=sorted(detector_hook.keys()),
            help="只运行指定检测项（可多次给出） / run only this detector (repeatable)",
        )

    def handle(self, *args, detector: list[str] | None, **options):
        names = detector or detector_hook.keys()
        started = time.monotonic()
        with tqdm(
            total=len(names), unit="项", desc="quality_detect", disable=options["verbosity"] < 1
        ) as bar:

            def progress(done: int, total: int, name: str, result: dict[str, int]) -> None:
                bar.set_postfix_str(f"{name}: {result['found']}")
                bar.update(done - bar.n)

            try:
                run = quality_detect(detectors=names, progress=progress)
            except DomainError as exc:
                raise CommandError(str(exc)) from exc
        for name, r in run.results.items():
            label = detector_hook.get(name).label
            self.stdout.write(
                f"{label} ({name}): 发现/found {r['found']}, 新增/new {r['new']}, "
                f"重开/reopened {r['reopened']}, 更新/updated {r['updated']}, "
                f"解决/resolved {r['resolved']}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"完成 / done: run {run.pk} in {time.monotonic() - started:.1f} s")
        )
