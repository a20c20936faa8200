"""Security keys (WebAuthn, FIDO2) as the second factor of staff logins, next to TOTP.

django-otp-webauthn supplies the device model (a django-otp device, so ``is_verified()`` and
``user_has_device`` see it), the ceremonies (py_webauthn: challenge in the session, used once;
signature, origin, relying-party ID and signature counter checked on the server) and the
browser scripts. popbase adds:

- the relying party: its ID is ``WEBAUTHN_RP_ID`` or the request's host (checked by
  ``ALLOWED_HOSTS``), its origins ``WEBAUTHN_ORIGINS`` or the request's own origin;
- a second factor only: no login without the password (``OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN``
  off), the ceremonies answer a signed-in user only;
- lockout: a refused assertion is reported to django-axes as a failed login of that username and
  address, like a wrong TOTP code; a locked-out user gets no challenge at all;
- Chinese answers for every refusal of the library (its own are English);
- pages: the key button on the enrolment (``otp_setup``) and verification (``otp_verify``)
  pages, the account page ``otp_devices`` (两步验证与安全密钥: add and remove keys), and the
  recovery codes shown once after a first key (``otp_key_enrolled``).

The library's scripts are served from our static files (``django_otp_webauthn/*.js``) with its
configuration in a JSON data block and the Chinese texts of its messages in
``population/otp/webauthn_zh.js``, in place of its ``jsi18n`` view (which has no Chinese); the
pages send a strict Content-Security-Policy (``two_factor.strict_csp``): no inline script.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_login_failed
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn import exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.templatetags.otp_webauthn import get_configuration
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from population import two_factor

KEY_NAME = "安全密钥"
# Session key: a first key was just enrolled, its recovery codes are still to be shown.
ISSUE_RECOVERY = "popbase_key_recovery_due"

# The library's refusals by code, in Chinese (its own texts are English).
MESSAGES = {
    "malformed_request": "请求格式不正确，请刷新页面后重试。",
    "invalid_state": "本次验证已过期或已使用，请重新点击按钮。",
    "unprocessable_request": "安全密钥的应答未通过验证，请重试，或改用动态口令。",
    "invalid_registration_response": "安全密钥的应答未通过验证，请重试，或换一个安全密钥。",
    "invalid_authentication_response": "安全密钥的应答未通过验证，请重试，或改用动态口令。",
    "invalid_cbor": "安全密钥的应答格式不正确，请重试，或改用动态口令。",
    "invalid_json_structure": "安全密钥的应答格式不正确，请重试，或改用动态口令。",
    "invalid_authenticator_data_structure": "安全密钥的应答格式不正确，请重试，或改用动态口令。",
    "unsupported_algorithm": "不支持这个安全密钥的签名算法，请换一个安全密钥或改用动态口令。",
    "unsupported_public_key": "不支持这个安全密钥的公钥类型，请换一个安全密钥或改用动态口令。",
    "unsupported_ec2_curve": "不支持这个安全密钥的椭圆曲线，请换一个安全密钥或改用动态口令。",
    "invalid_certificate_chain": "安全密钥的证书链未通过验证，请换一个安全密钥。",
    "invalid_backup_flags": "安全密钥的应答标志不一致，请重试，或改用动态口令。",
    "passwordless_login_disabled": "请先输入用户名和密码登录。",
    "not_authenticated": "请先输入用户名和密码登录。",
    "user_disabled": "该账号已停用。",
    "credential_disabled": "该安全密钥已停用，请改用其他安全密钥或动态口令。",
    "credential_not_found": "这个安全密钥没有绑定到本账号，请改用已绑定的安全密钥或动态口令。",
    "credential_user_mismatch": "这个安全密钥不属于当前登录的账号。",
    "user_not_verified": "添加安全密钥前，请先用已绑定的动态口令或安全密钥完成本次登录的验证。",
    "not_staff": "只有工作人员账号可以绑定安全密钥。",
    "locked_out": "验证失败次数过多，账号已被暂时锁定，请 1 小时后再试或联系系统管理员。",
    "error": "安全密钥验证出错，请重试，或改用动态口令。",
}


def relying_party_id(request) -> str:
    """The domain keys are bound to: ``WEBAUTHN_RP_ID``, or the host of this request (already
    checked against ``ALLOWED_HOSTS``)."""
    if settings.WEBAUTHN_RP_ID:
        return settings.WEBAUTHN_RP_ID
    domain, _port = split_domain_port(request.get_host())
    return domain


class SecurityKeyHelper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        if settings.WEBAUTHN_ORIGINS:
            return list(settings.WEBAUTHN_ORIGINS)
        return [f"{self.request.scheme}://{self.request.get_host()}"]

    def create_credential(self, user, response, parsed_credential, original_data):
        device = super().create_credential(user, response, parsed_credential, original_data)
        count = WebAuthnCredential.objects.filter(user=user).count()
        device.name = f"{KEY_NAME} {count + 1}"
        return device


class NotStaff(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "not_staff"


class LockedOut(exceptions.OTPWebAuthnApiError):
    status_code = 429
    default_code = "locked_out"


class ChineseAnswers:
    """The library's JSON refusals with Chinese texts (the code stays for scripts)."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.OTPWebAuthnApiError):
            detail = MESSAGES.get(exc.code, MESSAGES["error"])
            return JsonResponse({"detail": detail, "code": exc.code}, status=exc.status_code)
        raise exc


def _refuse_locked(request, user) -> None:
    if two_factor._locked(request, user):
        logout(request)
        raise LockedOut()


def _check_can_register(request) -> None:
    if not request.user.is_staff:
        raise NotStaff()
    _refuse_locked(request, request.user)


def _check_can_authenticate(request) -> None:
    """Only a signed-in, active user who is not locked out (no login by key alone)."""
    user = request.user
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if not user.is_active:
        raise exceptions.UserDisabled()
    _refuse_locked(request, user)


class RegistrationBegin(ChineseAnswers, BeginCredentialRegistrationView):
    """Challenge for a new key: staff only; before the session is verified only on the first
    login (no device yet; the library refuses otherwise)."""

    def check_can_register(self):
        _check_can_register(self.request)


class RegistrationComplete(ChineseAnswers, CompleteCredentialRegistrationView):
    """Saves the key; a user without recovery codes gets them on the next page."""

    def check_can_register(self):
        _check_can_register(self.request)

    def post(self, *args, **kwargs):
        first_factor = not self.request.user.is_verified()
        response = super().post(*args, **kwargs)
        user = self.request.user
        if not StaticDevice.objects.filter(user=user).exists():
            self.request.session[ISSUE_RECOVERY] = True
        if first_factor:
            # The key is the second factor of this login (the library marks the session); the
            # TOTP secret the enrolment page offered instead is dropped.
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            two_factor._clear_failures(self.request, user)
        return response


class AuthenticationBegin(ChineseAnswers, BeginCredentialAuthenticationView):
    """Challenge for the keys of the signed-in user (never a login without the password)."""

    def check_can_authenticate(self):
        _check_can_authenticate(self.request)


class AuthenticationComplete(ChineseAnswers, CompleteCredentialAuthenticationView):
    """Checks the signed challenge. A refusal counts toward the lockout as a wrong code does;
    a success completes the login and clears the failures."""

    def check_can_authenticate(self):
        _check_can_authenticate(self.request)

    def get_success_url(self):
        return two_factor._safe_next(self.request)

    def post(self, *args, **kwargs):
        user = self.get_user()
        try:
            response = super().post(*args, **kwargs)
        except exceptions.OTPWebAuthnApiError:
            user_login_failed.send(
                sender=__name__,
                credentials=two_factor._axes_credentials(user),
                request=self.request,
            )
            if getattr(self.request, "axes_locked_out", False):
                logout(self.request)
                # The failure is recorded and the lockout holds from the next request on; this
                # answer stays the scripts' JSON (axes' middleware would put its HTML page here).
                self.request.axes_locked_out = False
                raise LockedOut() from None
            raise
        two_factor._clear_failures(self.request, user)
        return response


urlpatterns = [
    path(
        "registration/begin/",
        RegistrationBegin.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        RegistrationComplete.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        AuthenticationBegin.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        AuthenticationComplete.as_view(),
        name="credential-authentication-complete",
    ),
]


# -- pages -------------------------------------------------------------------------------------


def script_configuration(request) -> dict:
    """What the library's scripts read from the ``otp_webauthn_config`` JSON block."""
    return get_configuration(request, {"nextFieldSelector": "input[name='next']"})


def key_context(request) -> dict:
    return {"webauthn_config": script_configuration(request)}


def _remaining_factors(user, without_key: int) -> bool:
    """Whether the user keeps a second factor (TOTP or another key) once this key is gone."""
    other_keys = WebAuthnCredential.objects.filter(user=user, confirmed=True).exclude(
        pk=without_key
    )
    return other_keys.exists() or TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@never_cache
@two_factor.strict_csp
@require_http_methods(["GET", "POST"])
def otp_devices(request):
    """两步验证与安全密钥: the signed-in user's second factors; add or remove security keys."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(reverse("admin:login"))
    if not user.is_staff:
        return HttpResponseRedirect(reverse("admin:login"))
    if request.method == "POST":
        chosen = request.POST.get("remove", "")
        key = (
            WebAuthnCredential.objects.filter(user=user, pk=int(chosen)).first()
            if chosen.isdigit()
            else None
        )
        if key is None:
            messages.error(request, "没有找到这个安全密钥，可能已被删除。")
        elif not _remaining_factors(user, key.pk):
            messages.error(
                request,
                "这是您唯一的第二道验证方式，不能删除；请先添加另一个安全密钥。",
            )
        else:
            key.delete()
            messages.success(request, f"已删除安全密钥“{key.name}”。")
        return HttpResponseRedirect(reverse("otp_devices"))
    keys = WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("pk")
    recovery = StaticDevice.objects.filter(user=user).first()
    return render(
        request,
        "otp/devices.html",
        {
            **two_factor._context(request),
            **key_context(request),
            "title": "两步验证与安全密钥",
            "keys": keys,
            "has_totp": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
            "recovery_left": recovery.token_set.count() if recovery else 0,
            "next": reverse("otp_devices"),
            "key_done_url": f"{reverse('otp_key_enrolled')}?next={reverse('otp_devices')}",
        },
    )


@transaction.atomic
def _issue_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=two_factor.RECOVERY_DEVICE_NAME)
    codes = [two_factor.StaticToken.random_token() for _ in range(two_factor.RECOVERY_CODE_COUNT)]
    two_factor.StaticToken.objects.bulk_create(
        two_factor.StaticToken(device=device, token=code) for code in codes
    )
    return codes


@never_cache
@two_factor.strict_csp
def otp_key_enrolled(request):
    """After a key was added: the recovery codes once (first second factor), else back."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(reverse("admin:login"))
    if not user.is_verified():
        return HttpResponseRedirect(reverse("otp_verify"))
    target = two_factor._safe_next(request)
    if request.session.pop(ISSUE_RECOVERY, False):
        codes = _issue_recovery_codes(user)
        return render(
            request,
            "otp/recovery_codes.html",
            two_factor._context(request, codes=codes, title="安全密钥已绑定：请保存恢复码"),
        )
    latest = WebAuthnCredential.objects.filter(user=user).order_by("-pk").first()
    if latest is not None:
        messages.success(request, f"已添加安全密钥“{latest.name}”。")
    return HttpResponseRedirect(target)
