import base64
import io
import secrets
from dataclasses import dataclass

import segno
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from population import roles
from population.models import OfficerRegion, Person, Region, RegionLevel

USERNAME = "demo_officer"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    first_name: str
    role: str
    desk: str  # what to try with it, as the quickstart prints it
    secret_file: str  # in the data directory, never in the repository


# One login per desk, so every desk of the quickstart can be tried.
ACCOUNTS = (
    DemoAccount(
        USERNAME,
        "演示民警",
        roles.REGISTRATION_OFFICER,
        "户籍民警：登记事项、居住证、落户窗口受理",
        "demo-officer-password.txt",
    ),
    DemoAccount(
        "demo_supervisor",
        "演示主管",
        roles.SUPERVISOR,
        "户籍主管：审批落户和变更更正、签发准迁证、运行数据质量检测、批准合并",
        "demo-supervisor-password.txt",
    ),
    DemoAccount(
        "demo_statistician",
        "演示统计员",
        roles.STATISTICIAN,
        "统计人员：统计（城镇化率）与 XLSX/CSV/PDF 报表",
        "demo-statistician-password.txt",
    ),
)


class Command(BaseCommand):
    help = (
        "创建（或保留）演示账号并打印登录信息：户籍民警 demo_officer、户籍主管 demo_supervisor、"
        "统计人员 demo_statistician，辖区为演示城市；密码随机生成，保存在数据目录中，不进仓库。 "
        "Create (or keep) the demo logins — registration officer demo_officer, supervisor "
        "demo_supervisor, statistician demo_statistician, working in the demo city — and print "
        "the admin URL and each login; passwords are random and kept in the data directory, "
        "never in the repository. 每个账号的动态口令（TOTP）密钥一并打印（演示民警附二维码）。 "
        "Each login's TOTP secret (second factor) is printed too, with a QR code for "
        "demo_officer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/", help="admin URL shown")

    @transaction.atomic
    def handle(self, *args, url: str, **options):
        data_dir = settings.POPBASE_DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        # The demo logins' area (辖区) is the demo city, so the demo data is visible.
        placed = (
            Person.objects.exclude(hukou_region=None).values_list("hukou_region_id", flat=True)
        ).first()
        city = (
            placed
            and Region.objects.filter(level=RegionLevel.CITY, code=placed[:4] + "00000000").first()
        )
        lines = [f"\n管理后台 / admin: {url}"]
        devices = []
        for account in ACCOUNTS:
            password = self._account(account, data_dir / account.secret_file, city)
            device = self._totp_device(account.username)
            devices.append(device)
            lines += [
                f"\n{account.desk}",
                f"演示账号 / login: {account.username}",
                f"密码 / password: {password}",
                f"动态口令密钥 / TOTP secret: {_base32(device)}",
            ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines) + "\n"))
        self.stdout.write(
            "登录时密码之后须输入动态口令：在手机动态口令应用中扫描下方二维码（demo_officer）或手动"
            "输入上面的密钥，或在本机运行 `oathtool --totp -b 密钥`。\n"
            "After the password the admin asks for a TOTP code: scan the QR code below "
            "(demo_officer) with an authenticator app or enter a secret above by hand, or run "
            "`oathtool --totp -b SECRET`.\n"
        )
        qr = io.StringIO()
        segno.make(devices[0].config_url, error="m").terminal(out=qr, compact=True)
        self.stdout.write(qr.getvalue())

    @staticmethod
    def _totp_device(username: str) -> TOTPDevice:
        """The login's confirmed TOTP device, kept across runs."""
        user = get_user_model().objects.get(username=username)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
        return device or TOTPDevice.objects.create(user=user, name="动态口令", confirmed=True)

    @staticmethod
    def _account(account: DemoAccount, secret_file, city) -> str:
        """The account's password: kept while its file exists, else a new one."""
        user_model = get_user_model()
        user = user_model.objects.filter(username=account.username).first()
        if user is None or not secret_file.exists():
            password = secrets.token_urlsafe(12)
            user = user or user_model(username=account.username, first_name=account.first_name)
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=account.role))
            secret_file.write_text(password + "\n", encoding="utf-8")
            secret_file.chmod(0o600)
        if city:
            OfficerRegion.objects.get_or_create(user=user, region=city)
        return secret_file.read_text(encoding="utf-8").strip()


def _base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")
