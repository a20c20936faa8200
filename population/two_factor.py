"""Second factor for staff (django-otp) and the idle limit of admin sessions.

A staff login is two steps. The password goes through the admin's own login form (django-axes
counts failures there). A user who must pass a second factor is then held on these pages until
they do:

- ``otp_setup`` (绑定动态口令): first login with ``OTP_REQUIRED`` on and no device yet. The page
  shows a QR code and the secret of a new TOTP device and asks for one code from the
  authenticator app; the device is confirmed, ten one-time recovery codes (django-otp static
  tokens) are shown once, and the session counts as verified.
- ``otp_verify`` (动态口令验证): every later login of a user with a confirmed device, whatever
  ``OTP_REQUIRED`` says: a code of the app or one of the recovery codes.

Wrong codes are reported to django-axes as failed logins of that username and address, so
guessed codes and guessed passwords fill the same lockout count; the count is cleared only when
both factors have passed (``AXES_RESET_ON_SUCCESS`` is off). django-otp's own throttle delays
the next try of a device after each wrong code as well.

Security keys (WebAuthn) are a second factor of the same standing, enrolled on
``otp_setup`` instead of TOTP or later on the account page ``otp_devices``; their ceremonies
and lockout are in ``population/security_keys.py``.

Libraries: django-otp (TOTP per RFC 6238, static recovery tokens, the session's verified
device) and segno (the QR code as inline SVG, no image library and no external service).
"""

from __future__ import annotations

import base64
import functools
import time
from urllib.parse import urlencode

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout, user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "动态口令"
RECOVERY_DEVICE_NAME = "恢复码"
# Session keys: whether this login needs a second factor (decided once, at login) and the time
# of the last request (for the idle limit).
NEEDS_SECOND_FACTOR = "popbase_otp_needed"
LAST_SEEN = "popbase_last_seen"
# The last-seen time is rewritten at most this often, not on every request.
LAST_SEEN_RESOLUTION_SECONDS = 60
# The second-factor pages run the WebAuthn library's scripts: only files of our own origin, no
# inline script, no plugin, no framing, forms posted to this site only. (The JSON data block
# holding the scripts' configuration is not a script and needs no exception.)
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def strict_csp(view):
    """Sends ``STRICT_CSP`` with every answer of ``view``."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers["Content-Security-Policy"] = STRICT_CSP
        return response

    return wrapped


def needs_second_factor(user) -> bool:
    """Staff log in with a second factor when ``OTP_REQUIRED`` is on, and always once they
    have a confirmed device."""
    if not (user.is_authenticated and user.is_staff):
        return False
    return settings.OTP_REQUIRED or user_has_device(user, confirmed=True)


def _axes_credentials(user) -> dict:
    return {settings.AXES_USERNAME_FORM_FIELD: user.get_username()}


def _clear_failures(request, user) -> None:
    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    if hasattr(handler, "reset_user_attempts"):
        handler.reset_user_attempts(request, _axes_credentials(user))


@receiver(user_logged_in, dispatch_uid="popbase_second_factor_login")
def _on_login(sender, request, user, **kwargs):
    """Decide once per login whether the session must pass a second factor; a login that
    needs none is complete, and clears the failures of its username and address."""
    if request is None or not hasattr(request, "session"):
        return
    needed = needs_second_factor(user)
    request.session[NEEDS_SECOND_FACTOR] = needed
    request.session[LAST_SEEN] = int(time.time())
    if not needed:
        _clear_failures(request, user)


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


class SecondFactorMiddleware:
    """Holds a signed-in user who still owes the second factor on its pages (and logout)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and self._owed(request, user):
            has_device = user_has_device(user, confirmed=True)
            name = "otp_verify" if has_device else "otp_setup"
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse(name)}?{query}")
        return self.get_response(request)

    def _owed(self, request, user) -> bool:
        if user.is_verified() or self._exempt(request.path):
            return False
        if NEEDS_SECOND_FACTOR not in request.session:
            # A session from before this check existed: decided now, as at login.
            request.session[NEEDS_SECOND_FACTOR] = needs_second_factor(user)
        return request.session[NEEDS_SECOND_FACTOR]

    @staticmethod
    def _exempt(path: str) -> bool:
        allowed = (
            reverse("otp_verify"),
            reverse("otp_setup"),
            reverse("admin:logout"),
            # The security-key ceremonies (they check what the session may do themselves).
            reverse("otp_webauthn:credential-registration-begin"),
            reverse("otp_webauthn:credential-registration-complete"),
            reverse("otp_webauthn:credential-authentication-begin"),
            reverse("otp_webauthn:credential-authentication-complete"),
        )
        static = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"
        return path in allowed or path.startswith(static)


class SessionIdleMiddleware:
    """Ends a signed-in session after ``SESSION_IDLE_MINUTES`` without a request.

    The time of the last request is kept in the session and rewritten at most once a minute
    (each rewrite also renews the cookie, whose age is the same limit)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_MINUTES * 60:
                logout(request)
                login_url = reverse("admin:login")
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{login_url}?{query}")
            if last_seen is None or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


# -- pages -------------------------------------------------------------------------------------


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="验证码",
        max_length=16,
        help_text=(
            "动态口令应用中显示的 6 位数字；手机不在身边时，可输入一个恢复码（每个只能用一次）。"
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_otp_token(self):
        return "".join(self.cleaned_data["otp_token"].split())


WRONG_CODE = "验证码不正确或已使用，请等待应用显示新的验证码后重新输入。"


def _context(request, **extra) -> dict:
    return {**admin.site.each_context(request), "next": _safe_next(request), **extra}


def _wrong_code(request, user):
    """Report a wrong code to django-axes as a failed login of this username and address; at
    the limit the session ends and the lockout page is shown."""
    user_login_failed.send(
        sender=__name__,
        credentials=_axes_credentials(user),
        request=request,
    )
    if getattr(request, "axes_locked_out", False):
        logout(request)
        return render(request, "lockout.html", admin.site.each_context(request), status=429)
    return None


def _locked(request, user) -> bool:
    return AxesProxyHandler.is_locked(request, _axes_credentials(user))


def _lockout_page(request):
    logout(request)
    return render(request, "lockout.html", admin.site.each_context(request), status=429)


def _secret_text(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _with_next(url: str, target: str) -> str:
    return f"{url}?{urlencode({'next': target})}"


def _key_context(request) -> dict:
    from population.security_keys import key_context

    return key_context(request)


@never_cache
@strict_csp
def otp_verify(request):
    """动态口令验证: the second step of a login, for a user with a confirmed device."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(reverse("admin:login"))
    if user.is_verified() or not user_has_device(user, confirmed=True):
        return HttpResponseRedirect(_safe_next(request))
    if _locked(request, user):
        return _lockout_page(request)
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        device = match_token(user, form.cleaned_data["otp_token"])
        if device is not None:
            otp_login(request, device)
            _clear_failures(request, user)
            return HttpResponseRedirect(_safe_next(request))
        locked = _wrong_code(request, user)
        if locked is not None:
            return locked
        error = WRONG_CODE
    has_keys = WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
    has_totp = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    return render(
        request,
        "otp/verify.html",
        _context(
            request,
            form=form,
            error=error,
            title="安全密钥或动态口令验证" if has_keys else "动态口令验证",
            has_keys=has_keys,
            has_totp=has_totp,
            code_help=None if has_totp else "输入开通时保存的一个恢复码（每个只能用一次）。",
            **(_key_context(request) if has_keys else {}),
        ),
    )


def _pending_device(user) -> TOTPDevice:
    """The unconfirmed device being enrolled: the same secret on every reload of the page."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


@transaction.atomic
def _confirm(device: TOTPDevice) -> list[str]:
    """Confirm the device and issue fresh recovery codes (replacing any earlier ones)."""
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    StaticDevice.objects.filter(user=device.user).delete()
    recovery = StaticDevice.objects.create(user=device.user, name=RECOVERY_DEVICE_NAME)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return codes


@never_cache
@strict_csp
def otp_setup(request):
    """绑定动态口令: enrolment on the first login, then the recovery codes once."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponseRedirect(reverse("admin:login"))
    if user_has_device(user, confirmed=True):
        # Enrolled already: a new device only after the old one is removed (otp_reset).
        return HttpResponseRedirect(
            f"{reverse('otp_verify')}?{urlencode({'next': _safe_next(request)})}"
        )
    if _locked(request, user):
        return _lockout_page(request)
    device = _pending_device(user)
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["otp_token"]):
            codes = _confirm(device)
            otp_login(request, device)
            _clear_failures(request, user)
            return render(
                request,
                "otp/recovery_codes.html",
                _context(request, codes=codes, title="动态口令已绑定：请保存恢复码"),
            )
        locked = _wrong_code(request, user)
        if locked is not None:
            return locked
        error = WRONG_CODE
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "otp/setup.html",
        _context(
            request,
            form=form,
            error=error,
            title="开通两步验证",
            qr_svg=mark_safe(qr.svg_inline(scale=5, title="动态口令二维码")),  # noqa: S308
            secret=_secret_text(device),
            key_done_url=_with_next(reverse("otp_key_enrolled"), _safe_next(request)),
            **_key_context(request),
        ),
    )
