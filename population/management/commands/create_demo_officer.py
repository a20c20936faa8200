import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from population import roles
from population.models import OfficerRegion, Person, Region, RegionLevel

USERNAME = "demo_officer"


class Command(BaseCommand):
    help = (
        "创建（或保留）演示户籍民警账号并打印登录信息；密码随机生成，保存在数据目录中，不进仓库。 "
        "Create (or keep) the demo registration officer and print the admin URL and login; the "
        "password is random and kept in the data directory, never in the repository."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/", help="admin URL shown")

    @transaction.atomic
    def handle(self, *args, url: str, **options):
        data_dir = settings.POPBASE_DATA_DIR
        data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = data_dir / "demo-officer-password.txt"
        user_model = get_user_model()
        user = user_model.objects.filter(username=USERNAME).first()
        if user is None or not secret_file.exists():
            password = secrets.token_urlsafe(12)
            user = user or user_model(username=USERNAME, first_name="演示民警")
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
            secret_file.write_text(password + "\n", encoding="utf-8")
            secret_file.chmod(0o600)
        # The demo officer's area (辖区) is the demo city, so the demo data is visible.
        placed = (
            Person.objects.exclude(hukou_region=None).values_list("hukou_region_id", flat=True)
        ).first()
        city = (
            placed
            and Region.objects.filter(level=RegionLevel.CITY, code=placed[:4] + "00000000").first()
        )
        if city:
            OfficerRegion.objects.get_or_create(user=user, region=city)
        password = secret_file.read_text(encoding="utf-8").strip()
        self.stdout.write(
            self.style.SUCCESS(
                f"\n管理后台 / admin: {url}\n"
                f"演示账号 / login: {USERNAME}\n"
                f"密码 / password: {password}\n"
            )
        )
