from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from settlement.rules import DATA_DIR, ruleset_load_file


class Command(BaseCommand):
    help = (
        "载入落户政策规则文件（默认为内置文件），同一版本重复载入不变，内容不同则拒绝。 "
        "Load settlement rule files (default: the shipped ones); loading a version again "
        "changes nothing, a stored version with other content is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="JSON 规则文件 / JSON rule files")

    def handle(self, *args, files, **options):
        paths = [Path(f) for f in files] or sorted(DATA_DIR.glob("*.json"))
        for path in paths:
            try:
                rule_set, created = ruleset_load_file(path=path)
            except (OSError, DomainError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            state = "新增 / added" if created else "未变 / unchanged"
            self.stdout.write(f"{rule_set.city_code} {rule_set.version} {rule_set.city}: {state}")
