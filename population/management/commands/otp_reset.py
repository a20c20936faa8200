from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential


class Command(BaseCommand):
    help = (
        "重置工作人员的两步验证（手机或安全密钥丢失、恢复码用完时）：删除其动态口令、安全密钥"
        "和恢复码，下次登录时重新绑定。 "
        "Reset a staff user's second factor (lost phone or security key, recovery codes used "
        "up): remove their TOTP devices, security keys and recovery codes, so the next login "
        "enrols anew."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="用户名 / the user's login name")

    @transaction.atomic
    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"没有用户 {username} / no user {username}")
        totp, _ = TOTPDevice.objects.filter(user=user).delete()
        static, _ = StaticDevice.objects.filter(user=user).delete()
        _, deleted = WebAuthnCredential.objects.filter(user=user).delete()
        keys = deleted.get(WebAuthnCredential._meta.label, 0)
        self.stdout.write(
            f"已重置 {username} 的两步验证，下次登录时重新绑定 / second factor of {username} "
            f"reset ({totp} TOTP, {keys} security-key, {static} recovery rows removed); the next "
            "login enrols anew"
        )
