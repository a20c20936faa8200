import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.inputcheck import json_loads
from settlement.services import settlement_precheck


class Command(BaseCommand):
    help = (
        "落户政策计算器：读入 JSON（文件或标准输入），输出各落户渠道是否符合及理由。"
        '输入格式 {"city_code": "440700", "date": "2019-03-01", "facts": {...}}，'
        "事实字段见 docs/settlement.md。 "
        "Settlement pre-check: reads JSON (a file or stdin) and prints, per channel, whether "
        "the facts qualify and why. Facts are described in docs/settlement.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", default="-", help="JSON 文件，- 为标准输入 / JSON file, - for stdin"
        )
        parser.add_argument("--city", help="城市代码，覆盖文件中的 city_code / city code")
        parser.add_argument("--date", help="申请日期 YYYY-MM-DD，覆盖文件中的 date / date")

    def handle(self, *args, file, city, date, **options):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"无法读取 {file} / cannot read {file}: {exc.strerror}") from exc
        try:
            # Strict: NaN/Infinity, numbers out of range, nesting past the bound and control
            # characters are refused here (json.loads takes the first two, and crashes on depth).
            payload = json_loads(text)
        except DomainError as exc:
            raise CommandError(f"[{exc.code}] {exc.message_zh} / {exc.message_en}") from exc
        if isinstance(payload, dict):
            if city:
                payload["city_code"] = city
            if date:
                payload["date"] = date
        try:
            result = settlement_precheck(payload)
        except DomainError as exc:
            raise CommandError(f"[{exc.code}] {exc.message_zh} / {exc.message_en}") from exc
        self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2, allow_nan=False))
