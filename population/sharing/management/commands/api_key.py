import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.sharing.models import ApiClient
from population.sharing.services import api_key_issue, api_key_revoke, api_key_rotate


class Command(BaseCommand):
    help = (
        "签发、轮换或吊销部门接口密钥；新密钥只显示一次。 "
        "Issue, rotate or revoke a department client's API key; a new key is shown once."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["issue", "rotate", "revoke"])
        parser.add_argument("target", help="client code (issue, rotate) or key prefix (revoke)")
        parser.add_argument(
            "--grace-hours", type=int, default=24, help="rotate: old keys stop after this"
        )

    def handle(self, *args, action: str, target: str, grace_hours: int, **options):
        try:
            if action == "revoke":
                key = api_key_revoke(prefix=target, actor=None)
                self.stdout.write(f"key {key.prefix} revoked")
                return
            client = ApiClient.objects.filter(code=target).first()
            if client is None:
                raise CommandError(f"没有客户端 {target} / no client {target}")
            if action == "issue":
                _key, secret = api_key_issue(client=client, actor=None)
            else:
                _key, secret = api_key_rotate(
                    client=client, actor=None, grace=dt.timedelta(hours=grace_hours)
                )
        except DomainError as exc:
            raise CommandError(f"{exc.message_zh} / {exc.message_en}") from exc
        self.stdout.write(f"new key for {client.code} (shown once): {secret}")
