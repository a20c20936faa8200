"""End to end: an officer enrols a TOTP authenticator on first login, logs in with a code
later, and wrong codes lock the account as wrong passwords do."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean_page, watch_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PASSWORD = "Mj-2024-户籍-e2e!"


@pytest.fixture
def staff(db):
    """A staff member with a Chinese login name (the pages show it)."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("民警二因素", password=PASSWORD, is_staff=True)
    user.raw_password = PASSWORD
    return user


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for ``secret`` (base32, as the page prints it)."""
    import base64

    from django_otp.oath import TOTP

    key = base64.b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def test_officer_enrols_totp_then_logs_in_with_a_code(
    page, live_server, admin_login, staff, settings
):
    officer = staff
    settings.OTP_REQUIRED = True
    watch_documents(page)

    # First login: the password, then the enrolment page with a QR code and the secret.
    admin_login(officer.username, officer.raw_password)
    expect(page).to_have_url(re.compile(r"/admin/otp/setup/\?next=%2Fadmin%2F$"))
    expect(page.locator("h1")).to_have_text("开通两步验证")
    expect(page.locator("#otp-qr svg")).to_be_visible()
    secret = page.locator("#otp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", secret), secret
    page.screenshot(path="docs/img/otp-setup.png", full_page=True)
    # The secret is a code, not words: left out of the check for English words.
    page.evaluate("document.getElementById('otp-secret').remove()")
    assert_clean_page(page)

    # The code from the app binds the device and shows the ten recovery codes once.
    page.fill("input[name=otp_token]", totp_code(secret))
    page.click("#otp-form [type=submit]")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(set(codes)) == 10 and all(re.fullmatch(r"[a-z2-9]{8}", c) for c in codes), codes
    page.screenshot(path="docs/img/otp-recovery-codes.png", full_page=True)
    page.evaluate("document.getElementById('recovery-codes').remove()")
    assert_clean_page(page)
    page.click("#otp-continue")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#logout-form button")).to_have_text("注销")

    # Log out and in again: now the password is followed by a code.
    page.click("#logout-form button")
    admin_login(officer.username, officer.raw_password)
    expect(page).to_have_url(re.compile(r"/admin/otp/verify/\?next=%2Fadmin%2F$"))
    expect(page.locator("h1")).to_have_text("动态口令验证")
    assert_clean_page(page)
    page.screenshot(path="docs/img/otp-verify.png", full_page=True)
    # The code of the next 30-second step (an app a little ahead): the current one was used to
    # enrol, and a used step is refused.
    page.fill("input[name=otp_token]", totp_code(secret, steps_ahead=1))
    page.click("#otp-form [type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/population/person/")
    expect(page).to_have_url(f"{live_server.url}/admin/population/person/")


def test_wrong_codes_lock_the_officer_out(page, live_server, admin_login, officer, settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.AXES_FAILURE_LIMIT = 3
    TOTPDevice.objects.create(user=officer, name="动态口令", confirmed=True)

    admin_login(officer.username, officer.raw_password)
    expect(page).to_have_url(re.compile(r"/admin/otp/verify/"))
    for _ in range(2):
        page.fill("input[name=otp_token]", "12345")  # five digits: never a right code
        page.click("#otp-form [type=submit]")
        expect(page.locator("#otp-error")).to_contain_text("验证码不正确")

    # The third wrong code reaches the limit: the session ends on the lockout page.
    page.fill("input[name=otp_token]", "12345")
    page.click("#otp-form [type=submit]")
    expect(page.locator("#error-message")).to_contain_text("已被暂时锁定")
    page.screenshot(path="docs/img/otp-lockout.png", full_page=True)

    # Even the right password is refused now.
    admin_login(officer.username, officer.raw_password)
    expect(page.locator("#error-message")).to_contain_text("已被暂时锁定")
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
