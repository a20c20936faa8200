from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from residence_permit.points import DATA_DIR, policy_load_file


class Command(BaseCommand):
    help = (
        "载入积分政策数据文件（默认为内置文件），同一版本重复载入不变，内容不同则拒绝。 "
        "Load points-policy data files (default: the shipped ones); loading a version again "
        "changes nothing, a version with other content is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="JSON 文件 / JSON files")

    def handle(self, *args, files, **options):
        paths = [Path(f) for f in files] or sorted(DATA_DIR.glob("*.json"))
        for path in paths:
            try:
                policy, created = policy_load_file(path=path)
            except (OSError, ValueError, DomainError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
            state = "新增 / added" if created else "未变 / unchanged"
            self.stdout.write(f"{policy.city_code} {policy.version} {policy.name}: {state}")
