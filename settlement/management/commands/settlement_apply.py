import datetime as dt
import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from population.errors import DomainError
from population.identity import mask_citizen_id
from registry.selectors import household_get_by_number
from settlement import services

FIELDS = {
    "city_code",
    "date",
    "channel",
    "target",
    "citizen_id",
    "name",
    "relation",
    "materials",
    "evidence",
    "members",
    "household_number",
}


class Command(BaseCommand):
    help = (
        "落户窗口受理（命令行）：读入 JSON（文件或标准输入），"
        "以 --officer 指定的民警名义登记并提交落户申请，"
        "与后台“落户窗口受理”相同（services.application_window_open）。"
        "字段：city_code, date, channel, target, citizen_id, name, relation（与户主关系代码）, "
        "materials（收件材料列表）, evidence（证明事实）, members, household_number（迁入户户号）。"
        "任何错误都不做更改。 "
        "Register and submit a settlement application from JSON (a file or stdin) in the name of "
        "--officer, as the admin's window does; fields as listed above; any error changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", default="-", help="JSON 文件，- 为标准输入 / JSON file, - for stdin"
        )
        parser.add_argument(
            "--officer", required=True, help="办理民警的登录名 / the acting officer's username"
        )

    def handle(self, *args, file, officer, **options):
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"无法读取 {file} / cannot read {file}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"不是有效的 JSON / not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CommandError("须为 JSON 对象 / must be a JSON object")
        extra = set(data) - FIELDS
        if extra:
            raise CommandError(f"未知字段 / unknown fields: {sorted(extra)}")
        actor = get_user_model().objects.filter(username=officer, is_active=True).first()
        if actor is None:
            raise CommandError(f"没有登录名为 {officer} 的民警 / no officer {officer!r}")
        household = None
        if data.get("household_number"):
            household = household_get_by_number(number=str(data["household_number"]))
            if household is None:
                raise CommandError("没有此户号 / no household with this number")
        try:
            on = dt.date.fromisoformat(str(data.get("date", "")))
        except ValueError:
            raise CommandError("date 须为 YYYY-MM-DD / date must be YYYY-MM-DD") from None
        try:
            app = services.application_window_open(
                city_code=str(data.get("city_code", "")),
                on=on,
                channel=str(data.get("channel", "")),
                target=str(data.get("target", "")),
                citizen_id=str(data.get("citizen_id", "")),
                name=str(data.get("name", "")),
                relation=str(data.get("relation", "")),
                materials=data.get("materials") or [],
                evidence=data.get("evidence") or {},
                members=data.get("members") or [],
                household=household,
                actor=actor,
            )
        except DomainError as exc:
            raise CommandError(f"[{exc.code}] {exc.message_zh} / {exc.message_en}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"已登记 / registered: {app.name}（{mask_citizen_id(app.citizen_id)}）"
                f" {app.get_status_display()} / {app.status}; {app.rule_set}"
            )
        )
