"""Second factor of staff logins (population/two_factor.py) and the idle limit of sessions.

Through the real login form and pages (Django's test client); TOTP codes are computed from the
device's key as an authenticator app would (django_otp.oath.TOTP).
"""

from __future__ import annotations

import io
import re
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from population import two_factor

pytestmark = pytest.mark.django_db

PASSWORD = "x-Strong-pass-1"
ADDRESS = "203.0.113.9"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff_otp", password=PASSWORD, is_staff=True)


def code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or ``steps_ahead`` 30-second steps later: the
    device accepts one step of drift, and refuses a step it has already seen)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    """Six digits that no step the device accepts now shows."""
    accepted = {code(device, steps) for steps in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 10**6)) if c not in accepted)


def login(client, password=PASSWORD, username="staff_otp"):
    return client.post(
        "/admin/login/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ADDRESS,
    )


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="动态口令", confirmed=True)


# -- when a second factor is asked -------------------------------------------------------------


def test_development_without_a_device_logs_in_with_the_password_alone(client, staff, settings):
    settings.OTP_REQUIRED = False
    assert login(client).status_code == 302
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200


def test_required_second_factor_sends_a_new_user_to_enrolment_from_every_admin_page(
    client, staff, settings
):
    settings.OTP_REQUIRED = True
    login(client)
    for url in ("/admin/", "/admin/population/person/", "/admin/statistics/"):
        response = client.get(url, REMOTE_ADDR=ADDRESS)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/otp/setup/?next=")


def test_an_enrolled_user_is_asked_for_a_code_even_in_development(client, staff, settings):
    settings.OTP_REQUIRED = False
    enrolled(staff)
    login(client)
    response = client.get("/admin/population/person/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    assert response["Location"] == "/admin/otp/verify/?next=%2Fadmin%2Fpopulation%2Fperson%2F"


def test_development_asks_for_no_second_factor_by_default():
    """(Production's default, and its refusal of OTP_REQUIRED off, are in
    test_production_settings.py.)"""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    snippet = "import config.settings as s; print(s.OTP_REQUIRED, s.SESSION_IDLE_MINUTES)"
    env = {k: v for k, v in os.environ.items() if k not in {"OTP_REQUIRED", "POPBASE_ENV"}}
    env.setdefault("DATABASE_URL", "postgres://popbase@db.invalid:5432/popbase")
    dev = subprocess.run(  # noqa: S603
        [sys.executable, "-c", snippet],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert dev.stdout.split() == ["False", "30"]


# -- enrolment ---------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_a_stable_secret_then_recovery_codes(client, staff, settings):
    settings.OTP_REQUIRED = True
    login(client)
    page = client.get("/admin/otp/setup/?next=/admin/population/person/", REMOTE_ADDR=ADDRESS)
    html = page.content.decode()
    assert page.status_code == 200
    assert "开通两步验证" in html and "<svg" in html
    secret = re.search(r'<code id="otp-secret">([A-Z2-7 ]+)</code>', html).group(1)
    # a reload keeps the same secret (one pending device)
    again = client.get("/admin/otp/setup/", REMOTE_ADDR=ADDRESS).content.decode()
    assert secret in again
    device = TOTPDevice.objects.get(user=staff)
    assert not device.confirmed

    wrong = client.post(
        "/admin/otp/setup/",
        {"otp_token": wrong_code(device), "next": "/admin/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert wrong.status_code == 200
    assert "验证码不正确" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    device.throttle_reset()
    done = client.post(
        "/admin/otp/setup/",
        {"otp_token": code(device), "next": "/admin/population/person/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]+)</code></li>", done.content.decode())
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT == len(set(codes))
    assert 'href="/admin/population/person/"' in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(codes)
    # verified: the admin opens, and the enrolment page now leads to the verify page
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200


def test_enrolment_refuses_an_outside_next_address(client, staff, settings):
    settings.OTP_REQUIRED = True
    login(client)
    client.get("/admin/otp/setup/", REMOTE_ADDR=ADDRESS)
    device = TOTPDevice.objects.get(user=staff)
    done = client.post(
        "/admin/otp/setup/",
        {"otp_token": code(device), "next": "https://evil.example/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert "evil.example" not in done.content.decode()
    assert 'href="/admin/"' in done.content.decode()


# -- verification, recovery codes, lockout ---------------------------------------------------


def test_a_code_or_a_recovery_code_passes_and_a_recovery_code_works_once(client, staff):
    device = enrolled(staff)
    recovery = StaticDevice.objects.create(user=staff, name="恢复码")
    recovery.token_set.create(token="abcd2345")

    login(client)
    response = client.post(
        "/admin/otp/verify/", {"otp_token": code(device), "next": "/admin/"}, REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200

    client.post("/admin/logout/", REMOTE_ADDR=ADDRESS)
    login(client)
    response = client.post("/admin/otp/verify/", {"otp_token": "abcd 2345"}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    assert not StaticToken.objects.exists()

    client.post("/admin/logout/", REMOTE_ADDR=ADDRESS)
    login(client)
    reused = client.post("/admin/otp/verify/", {"otp_token": "abcd2345"}, REMOTE_ADDR=ADDRESS)
    assert reused.status_code == 200
    assert "验证码不正确" in reused.content.decode()
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 302


def test_wrong_codes_count_toward_the_lockout_and_a_password_does_not_clear_them(
    client, staff, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    device = enrolled(staff)
    login(client)
    statuses = []
    for _ in range(2):
        statuses.append(
            client.post(
                "/admin/otp/verify/", {"otp_token": wrong_code(device)}, REMOTE_ADDR=ADDRESS
            ).status_code
        )
    assert statuses == [200, 200]
    assert AccessAttempt.objects.get(username="staff_otp").failures_since_start == 2

    # logging in again with the right password keeps the count (the second factor is owed)
    client.post("/admin/logout/", REMOTE_ADDR=ADDRESS)
    assert login(client).status_code == 302
    locked = client.post(
        "/admin/otp/verify/", {"otp_token": wrong_code(device)}, REMOTE_ADDR=ADDRESS
    )
    assert locked.status_code == 429
    assert "已被暂时锁定" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    # now even the right password and a right code are refused
    assert login(client).status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_passed_second_factor_clears_earlier_failures(client, staff):
    device = enrolled(staff)
    login(client, password="wrong")
    login(client)
    assert AccessAttempt.objects.get(username="staff_otp").failures_since_start == 1
    client.post("/admin/otp/verify/", {"otp_token": code(device)}, REMOTE_ADDR=ADDRESS)
    assert not AccessAttempt.objects.filter(username="staff_otp").exists()


def test_a_login_without_second_factor_clears_earlier_failures(client, staff, settings):
    settings.OTP_REQUIRED = False
    login(client, password="wrong")
    assert AccessAttempt.objects.filter(username="staff_otp").exists()
    login(client)
    assert not AccessAttempt.objects.filter(username="staff_otp").exists()


# -- idle sessions -----------------------------------------------------------------------------


def test_a_session_idle_past_the_limit_ends(client, staff, settings):
    settings.SESSION_IDLE_MINUTES = 30
    login(client)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200

    session = client.session
    session[two_factor.LAST_SEEN] = int(time.time()) - 29 * 60
    session.save()
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200
    # that request renewed the time
    assert client.session[two_factor.LAST_SEEN] >= int(time.time()) - 5

    session = client.session
    session[two_factor.LAST_SEEN] = int(time.time()) - 31 * 60
    session.save()
    response = client.get("/admin/population/person/", REMOTE_ADDR=ADDRESS)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 302


def test_the_session_cookie_lasts_as_long_as_the_idle_limit(settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60


# -- commands ----------------------------------------------------------------------------------


def test_otp_reset_removes_devices_so_the_next_login_enrols(client, staff, settings):
    settings.OTP_REQUIRED = True
    enrolled(staff)
    StaticDevice.objects.create(user=staff, name="恢复码").token_set.create(token="abcd2345")
    out = io.StringIO()
    call_command("otp_reset", "staff_otp", stdout=out)
    assert "staff_otp" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert not StaticToken.objects.exists()
    login(client)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS)["Location"].startswith("/admin/otp/setup/")


def test_otp_reset_of_an_unknown_user_fails_in_both_languages():
    with pytest.raises(CommandError, match="没有用户 nobody / no user nobody"):
        call_command("otp_reset", "nobody")
    assert get_user_model().objects.count() == 0
