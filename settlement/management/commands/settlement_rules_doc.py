from django.core.management.base import BaseCommand, CommandError

from settlement.docgen import DOC, doc_with_generated


class Command(BaseCommand):
    help = (
        "生成 docs/settlement.md 中的事实表、事实 JSON 模式和条款对照表（由规则文件生成）。"
        "--check 只检查是否一致。 "
        "Regenerates the facts table, the facts JSON schema and the clause review table in "
        "docs/settlement.md from the rule files; --check only reports whether they are current."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="只检查，不写入；不一致时退出码非零 / check only; non-zero exit when stale",
        )

    def handle(self, *args, check, **options):
        text = DOC.read_text(encoding="utf-8")
        new = doc_with_generated(text)
        if check:
            if new != text:
                raise CommandError(
                    "docs/settlement.md 与规则文件不一致，请运行 settlement_rules_doc / "
                    "docs/settlement.md is stale: run settlement_rules_doc"
                )
            self.stdout.write("docs/settlement.md 已是最新 / current")
            return
        DOC.write_text(new, encoding="utf-8")
        self.stdout.write("docs/settlement.md 已更新 / written")
