"""Write a sample department feed about persons of the library, with injected faults."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.sync.feeds import FEEDS
from population.sync.samples import ENCODINGS, FAULTS, sample_feed, sample_persons


class Command(BaseCommand):
    help = (
        "生成演示城市的部门数据样例文件，可注入错误（校验码、未知号码、批内重复、日期格式、"
        "列数）并选择编码。/ Write a sample department feed about the demo city's persons, "
        "optionally with injected faults and in another encoding."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", help="输出文件 / output file")
        parser.add_argument("--feed", required=True, choices=sorted(FEEDS), help="数据项 / feed")
        parser.add_argument("--rows", type=int, default=1000, help="行数 / data rows")
        parser.add_argument("--seed", type=int, default=1, help="随机种子 / random seed")
        parser.add_argument("--format", default="csv", choices=["csv", "jsonl"])
        parser.add_argument("--encoding", default="utf-8", choices=ENCODINGS)
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="KIND=N",
            help=f"注入N行错误，可重复 / inject N faulty rows, repeatable; KIND in {FAULTS}",
        )

    def handle(self, *args, **options):
        faults = {}
        for item in options["fault"]:
            kind, _, count = item.partition("=")
            if kind not in FAULTS or not count.isdigit():
                raise CommandError(f"--fault {item}: expected KIND=N with KIND in {FAULTS}")
            faults[kind] = int(count)
        persons = sample_persons()
        if not persons:
            raise CommandError("人口库为空，请先运行 seed_demo / the library is empty: seed_demo")
        try:
            feed = sample_feed(
                kind=options["feed"],
                persons=persons,
                rows=options["rows"],
                seed=options["seed"],
                fmt=options["format"],
                encoding=options["encoding"],
                faults=faults,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        Path(options["output"]).write_bytes(feed.content)
        self.stdout.write(
            f"{feed.rows} rows -> {options['output']}; faulty lines: "
            + json.dumps(feed.faults, ensure_ascii=False)
        )
