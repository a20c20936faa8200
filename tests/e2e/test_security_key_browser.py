"""End to end: security keys (WebAuthn) as the second factor, with Chromium's virtual
authenticator (Chrome DevTools Protocol) standing in for a FIDO2 key.

An officer enrols a key by clicking on the first login, logs out, logs in with the password and
the key; another officer adds a key from the account page next to TOTP, and when the key does
not answer or is removed, the login falls back to the TOTP code. Every page runs under the
strict Content-Security-Policy of the second-factor pages, and no violation is reported."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_clean_page, watch_documents
from tests.e2e.test_two_factor_browser import PASSWORD, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(db):
    from django.contrib.auth.models import User

    user = User.objects.create_user("民警安全密钥", password=PASSWORD, is_staff=True)
    user.raw_password = PASSWORD
    return user


@pytest.fixture
def authenticator(page):
    """A virtual FIDO2 key plugged into this tab: CTAP2 over USB, resident keys, user
    verification (PIN or fingerprint) that always succeeds, touched automatically."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    answer = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )

    class Key:
        id = answer["authenticatorId"]

        @staticmethod
        def credentials() -> list[dict]:
            return cdp.send("WebAuthn.getCredentials", {"authenticatorId": Key.id})["credentials"]

        @staticmethod
        def forget_credentials() -> None:
            cdp.send("WebAuthn.clearCredentials", {"authenticatorId": Key.id})

    return Key


@pytest.fixture
def csp_violations(page):
    """Content-Security-Policy refusals the browser reports on the console."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


def expect_strict_csp(response) -> None:
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy, policy


def test_officer_enrols_a_security_key_then_logs_in_with_it(
    page, live_server, admin_login, staff, settings, authenticator, csp_violations
):
    from django_otp_webauthn.models import WebAuthnCredential

    settings.OTP_REQUIRED = True
    watch_documents(page)

    # First login: the password, then the enrolment page offers a security key or TOTP.
    with page.expect_response(re.compile(r"/admin/otp/setup/")) as setup:
        admin_login(staff.username, staff.raw_password)
    expect_strict_csp(setup.value)
    expect(page.locator("h1")).to_have_text("开通两步验证")
    button = page.locator("#passkey-register-button")
    expect(button).to_have_text("添加安全密钥")
    page.screenshot(path="docs/img/security-key-setup.png", full_page=True)

    # One click: the browser talks to the key; the key is saved and the recovery codes follow.
    button.click()
    expect(page.locator("h1")).to_have_text("安全密钥已绑定：请保存恢复码")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    assert len(authenticator.credentials()) == 1
    key = WebAuthnCredential.objects.get(user=staff)
    assert key.confirmed and key.name == "安全密钥 1"
    page.evaluate("document.getElementById('recovery-codes').remove()")
    assert_clean_page(page)
    page.click("#otp-continue")
    expect(page).to_have_url(f"{live_server.url}/admin/")

    # Log out; the password alone no longer opens the admin: the key is asked for.
    page.click("#logout-form button")
    with page.expect_response(re.compile(r"/admin/otp/verify/")) as verify:
        admin_login(staff.username, staff.raw_password)
    expect_strict_csp(verify.value)
    expect(page).to_have_url(re.compile(r"/admin/otp/verify/\?next=%2Fadmin%2F$"))
    expect(page.locator("h1")).to_have_text("安全密钥或动态口令验证")
    expect(page.locator("#passkey-verification-button")).to_have_text("使用安全密钥验证")
    assert_clean_page(page)
    page.screenshot(path="docs/img/security-key-verify.png", full_page=True)
    page.goto(f"{live_server.url}/admin/population/person/")
    expect(page).to_have_url(re.compile(r"/admin/otp/verify/\?next=%2Fadmin%2Fpopulation"))

    page.click("#passkey-verification-button")
    expect(page).to_have_url(f"{live_server.url}/admin/population/person/")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#otp-devices-link")).to_have_text("两步验证与安全密钥")
    key.refresh_from_db()
    assert key.last_used_at is not None and key.sign_count >= 1
    assert csp_violations == []


def test_key_added_on_the_account_page_and_totp_as_fallback(
    page, live_server, admin_login, staff, settings, authenticator, csp_violations
):
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_otp_webauthn.models import WebAuthnCredential

    settings.OTP_REQUIRED = True
    settings.AXES_FAILURE_LIMIT = 5
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    import base64

    device = TOTPDevice.objects.create(
        user=staff, name="动态口令", confirmed=True, key=base64.b32decode(secret).hex()
    )
    # Enrolled with TOTP earlier: ten recovery codes, which adding a key leaves alone.
    recovery = StaticDevice.objects.create(user=staff, name="恢复码")
    for n in range(10):
        StaticToken.objects.create(device=recovery, token=f"code{n:04d}")

    def enter_totp(steps_ahead: int = 0):
        # Each login stands for a new 30-second step of the app (a used step is refused).
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
        page.fill("input[name=otp_token]", totp_code(secret, steps_ahead))
        page.click("#otp-form [type=submit]")

    watch_documents(page)
    admin_login(staff.username, staff.raw_password)
    expect(page.locator("h1")).to_have_text("动态口令验证")
    expect(page.locator("#passkey-verification-button")).to_have_count(0)
    enter_totp()
    expect(page).to_have_url(f"{live_server.url}/admin/")

    # The account page: TOTP bound, no key yet; one click adds one.
    page.click("#otp-devices-link")
    expect(page.locator("h1")).to_have_text("两步验证与安全密钥")
    expect(page.locator("#totp-status")).to_have_text("已绑定手机动态口令。")
    expect(page.locator("#recovery-status")).to_have_text("还剩 10 个恢复码未使用。")
    expect(page.locator("#no-security-keys")).to_be_visible()
    page.click("#passkey-register-button")
    expect(page.locator(".messagelist .success")).to_have_text("已添加安全密钥“安全密钥 1”。")
    expect(page.locator("#security-keys tbody tr")).to_have_count(1)
    expect(page.locator("#security-keys tbody tr td").nth(2)).to_have_text("尚未使用")
    assert_clean_page(page)
    page.screenshot(path="docs/img/security-key-account.png", full_page=True)
    assert WebAuthnCredential.objects.filter(user=staff).count() == 1
    assert StaticToken.objects.filter(device__user=staff).count() == 10

    # The key is not at hand (this authenticator no longer holds it): the key button reports
    # it, and the TOTP code below opens the admin.
    page.click("#logout-form button")
    admin_login(staff.username, staff.raw_password)
    expect(page.locator("h1")).to_have_text("安全密钥或动态口令验证")
    authenticator.forget_credentials()
    page.click("#passkey-verification-button")
    expect(page.locator("#passkey-verification-status-message")).to_contain_text("验证已取消")
    page.screenshot(path="docs/img/security-key-fallback.png", full_page=True)
    enter_totp()
    expect(page).to_have_url(f"{live_server.url}/admin/")

    # The key is removed on the account page: the next login asks for TOTP only.
    page.click("#otp-devices-link")
    page.click(".security-key-remove button")
    expect(page.locator(".messagelist .success")).to_have_text("已删除安全密钥“安全密钥 1”。")
    expect(page.locator("#no-security-keys")).to_be_visible()
    assert not WebAuthnCredential.objects.filter(user=staff).exists()
    page.click("#logout-form button")
    admin_login(staff.username, staff.raw_password)
    expect(page.locator("h1")).to_have_text("动态口令验证")
    expect(page.locator("#passkey-verification-button")).to_have_count(0)
    enter_totp()
    expect(page).to_have_url(f"{live_server.url}/admin/")
    assert csp_violations == []
