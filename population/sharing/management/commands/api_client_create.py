import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from population.errors import DomainError
from population.sharing.services import api_client_create


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class Command(BaseCommand):
    help = (
        "创建部门接口客户端及其授权范围，并只显示一次首个密钥。 "
        "Create a department API client with its scope and print its first key, once."
    )

    def add_arguments(self, parser):
        parser.add_argument("code", help="client code, e.g. hrss-pension")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--department",
            required=True,
            help="部门代码 / department code: hrss, edu, housing, health, civil, tax, statistics",
        )
        parser.add_argument("--endpoints", default="", help="persons,verifications,changes,facts")
        parser.add_argument("--fields", default="", help="name,sex,birth_date,... (person fields)")
        parser.add_argument("--purposes", default="", help="social_insurance,...")
        parser.add_argument("--kinds", default="", help="birth,death,... (change kinds)")
        parser.add_argument("--facts", default="", help="local_hukou,lives_in_region,...")
        parser.add_argument("--regions", default="", help="region code prefixes; empty: city")
        parser.add_argument("--full-citizen-id", action="store_true")
        parser.add_argument("--rate-limit", type=int, default=600, help="requests per minute")
        parser.add_argument("--expires-days", type=int, default=None, help="key lifetime")

    def handle(self, *args, **o):
        expires = (
            timezone.now() + dt.timedelta(days=o["expires_days"]) if o["expires_days"] else None
        )
        try:
            client, secret = api_client_create(
                code=o["code"],
                name=o["name"],
                department=o["department"],
                actor=None,
                expires_at=expires,
                endpoints=_list(o["endpoints"]),
                person_fields=_list(o["fields"]),
                purposes=_list(o["purposes"]),
                change_kinds=_list(o["kinds"]),
                facts=_list(o["facts"]),
                region_prefixes=_list(o["regions"]),
                full_citizen_id=o["full_citizen_id"],
                rate_limit_per_minute=o["rate_limit"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} / {exc.message_en}") from exc
        self.stdout.write(f"client {client.code} created; key (shown once): {secret}")
