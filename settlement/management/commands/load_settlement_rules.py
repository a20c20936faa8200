from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from settlement.amendments import amendment_load_file
from settlement.rules import DATA_DIR, ruleset_load_file


class Command(BaseCommand):
    help = (
        "载入落户政策规则文件（默认为内置文件），同一版本重复载入不变，内容不同则拒绝。 "
        "Load settlement rule files (default: the shipped ones); loading a version again "
        "changes nothing, a stored version with other content is refused. "
        "--amendment 载入修订文件（延长或部分替代已存规则的后续文件，见 docs/settlement.md）。 "
        "--amendment loads amendment files (later documents extending or superseding a stored "
        "rule set)."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="JSON 规则文件 / JSON rule files")
        parser.add_argument(
            "--amendment",
            action="store_true",
            help="文件为修订文件（延长或部分替代）/ the files are amendments",
        )

    def handle(self, *args, files, amendment, **options):
        if amendment and not files:
            raise CommandError("--amendment 需给出文件 / --amendment needs files")
        paths = [Path(f) for f in files] or sorted(DATA_DIR.glob("*.json"))
        load = amendment_load_file if amendment else ruleset_load_file
        for path in paths:
            try:
                rule_set, created = load(path=path)
            except (OSError, DomainError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            state = "新增 / added" if created else "未变 / unchanged"
            self.stdout.write(f"{rule_set.city_code} {rule_set.version} {rule_set.city}: {state}")
