"""Security keys (population/security_keys.py) through the real login form, pages and WebAuthn
endpoints (Django's test client).

``SoftKey`` answers the ceremonies as a FIDO2 key would: a P-256 key pair per credential,
"none" attestation, authenticator data with the relying party's hash, flags and a signature
counter, and ECDSA signatures over authenticator data + hash of the client data. The server
checks them with py_webauthn as it checks a real key's.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import struct

import cbor2
import pytest
from axes.models import AccessAttempt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from population import security_keys, two_factor

pytestmark = pytest.mark.django_db

PASSWORD = "x-Strong-pass-1"
ADDRESS = "203.0.113.9"
ORIGIN = "http://testserver"
BEGIN_REGISTRATION = "/admin/otp/webauthn/registration/begin/"
COMPLETE_REGISTRATION = "/admin/otp/webauthn/registration/complete/"
BEGIN_AUTHENTICATION = "/admin/otp/webauthn/authentication/begin/"
COMPLETE_AUTHENTICATION = "/admin/otp/webauthn/authentication/complete/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """One FIDO2 credential held in memory."""

    def __init__(self, rp_id: str = "testserver", origin: str = ORIGIN):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.rp_id = rp_id
        self.origin = origin
        self.count = 0

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def _auth_data(self, flags: int, extra: bytes = b"") -> bytes:
        self.count += 1
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.count) + extra

    def register(self, options: dict) -> dict:
        numbers = self.private.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(self.credential_id))
        attested += self.credential_id + cose
        auth_data = self._auth_data(0x45, attested)  # user present + verified + credential
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["usb"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def assert_(self, options: dict, *, tamper: bool = False) -> dict:
        auth_data = self._auth_data(0x05)
        client_data = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.private.sign(signed, ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = self.private.sign(signed + b"x", ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64url(auth_data),
                "clientDataJSON": b64url(client_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff_key", password=PASSWORD, is_staff=True)


def login(client, username="staff_key"):
    return client.post(
        "/admin/login/",
        {"username": username, "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR=ADDRESS,
    )


def post_json(client, url: str, body: dict | None = None):
    return client.post(
        url,
        json.dumps(body or {}),
        content_type="application/json",
        REMOTE_ADDR=ADDRESS,
    )


def enrol(client, key: SoftKey):
    options = post_json(client, BEGIN_REGISTRATION).json()
    return post_json(client, COMPLETE_REGISTRATION, key.register(options))


def key_of(user, client) -> SoftKey:
    """A key enrolled for ``user`` on its first login, then a fresh session."""
    key = SoftKey()
    login(client, user.username)
    assert enrol(client, key).status_code == 200
    assert client.get("/admin/otp/security-key/enrolled/").status_code == 200  # codes shown
    client.post("/admin/logout/", REMOTE_ADDR=ADDRESS)
    return key


def failures(username="staff_key") -> int:
    attempt = AccessAttempt.objects.filter(username=username).first()
    return attempt.failures_since_start if attempt else 0


# -- enrolment ---------------------------------------------------------------------------------


def test_first_login_enrols_a_key_then_shows_recovery_codes_once(client, staff, settings):
    settings.OTP_REQUIRED = True
    login(client)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS)["Location"].startswith("/admin/otp/setup/")
    page = client.get("/admin/otp/setup/?next=/admin/population/person/", REMOTE_ADDR=ADDRESS)
    html = page.content.decode()
    assert 'id="passkey-register-button"' in html and 'id="otp_webauthn_config"' in html
    assert "otp%2Fsecurity-key%2Fenrolled" in html or "security-key/enrolled/?next=" in html

    options = post_json(client, BEGIN_REGISTRATION).json()
    assert options["rp"] == {"name": "popbase 人口基础信息库", "id": "testserver"}
    assert options["excludeCredentials"] == []
    key = SoftKey()
    done = post_json(client, COMPLETE_REGISTRATION, key.register(options))
    assert done.status_code == 200
    credential = WebAuthnCredential.objects.get(user=staff)
    assert done.json() == {"id": credential.pk}
    assert credential.confirmed and credential.name == "安全密钥 1"
    assert credential.transports == ["usb"]

    codes_page = client.get(
        "/admin/otp/security-key/enrolled/?next=/admin/population/person/", REMOTE_ADDR=ADDRESS
    )
    codes = re.findall(r"<li><code>([a-z2-9]+)</code></li>", codes_page.content.decode())
    assert len(codes) == two_factor.RECOVERY_CODE_COUNT == len(set(codes))
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(codes)
    assert 'href="/admin/population/person/"' in codes_page.content.decode()
    # shown once: a reload leads on, without new codes
    again = client.get("/admin/otp/security-key/enrolled/", REMOTE_ADDR=ADDRESS)
    assert again.status_code == 302
    assert sorted(StaticToken.objects.values_list("token", flat=True)) == sorted(codes)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200


def test_a_registration_answer_for_another_challenge_or_origin_is_refused(client, staff):
    login(client)
    post_json(client, BEGIN_REGISTRATION)
    wrong_challenge = SoftKey().register({"challenge": b64url(b"not the challenge")})
    refused = post_json(client, COMPLETE_REGISTRATION, wrong_challenge)
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "安全密钥的应答未通过验证，请重试，或换一个安全密钥。",
        "code": "invalid_registration_response",
    }

    options = post_json(client, BEGIN_REGISTRATION).json()
    phishing = SoftKey(origin="https://popbase.example.com.evil.test").register(options)
    assert post_json(client, COMPLETE_REGISTRATION, phishing).status_code == 422
    # the challenge is used once: the same answer again finds no ceremony
    replay = post_json(client, COMPLETE_REGISTRATION, phishing)
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_state"
    assert not WebAuthnCredential.objects.exists()


def test_an_enrolled_user_adds_a_key_only_after_passing_the_second_factor(client, staff):
    TOTPDevice.objects.create(user=staff, name="动态口令", confirmed=True)
    login(client)
    refused = post_json(client, BEGIN_REGISTRATION)
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": security_keys.MESSAGES["user_not_verified"],
        "code": "user_not_verified",
    }


def test_only_staff_enrol_keys_and_nobody_signed_out(client, django_user_model):
    resident = django_user_model.objects.create_user("resident", password=PASSWORD)
    anonymous = post_json(client, BEGIN_REGISTRATION)
    assert anonymous.status_code == 403 and anonymous.json()["code"] == "not_authenticated"
    client.force_login(resident, backend="django.contrib.auth.backends.ModelBackend")
    refused = post_json(client, BEGIN_REGISTRATION)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "只有工作人员账号可以绑定安全密钥。"


# -- login with a key --------------------------------------------------------------------------


def test_password_then_key_completes_the_login(client, staff, settings):
    settings.OTP_REQUIRED = True
    key = key_of(staff, client)
    login(client)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS)["Location"].startswith("/admin/otp/verify/")
    page = client.get("/admin/otp/verify/?next=/admin/statistics/", REMOTE_ADDR=ADDRESS)
    assert 'id="passkey-verification-button"' in page.content.decode()

    options = post_json(client, BEGIN_AUTHENTICATION).json()
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
    assert options["rpId"] == "testserver"
    done = post_json(
        client, f"{COMPLETE_AUTHENTICATION}?next=/admin/statistics/", key.assert_(options)
    )
    assert done.status_code == 200
    assert done.json()["redirect_url"] == "/admin/statistics/"
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200
    credential = WebAuthnCredential.objects.get(user=staff)
    assert credential.sign_count == key.count and credential.last_used_at is not None


def test_an_outside_next_address_is_not_followed(client, staff):
    key = key_of(staff, client)
    login(client)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    done = post_json(
        client, f"{COMPLETE_AUTHENTICATION}?next=https://evil.test/", key.assert_(options)
    )
    assert done.json()["redirect_url"] == "/admin/"


def test_no_login_by_key_alone(client, staff):
    key = key_of(staff, client)
    refused = post_json(client, BEGIN_AUTHENTICATION)
    assert refused.status_code == 403 and refused.json()["code"] == "not_authenticated"
    forged = post_json(client, COMPLETE_AUTHENTICATION, key.assert_({"challenge": "AAAA"}))
    assert forged.status_code == 403
    assert "_auth_user_id" not in client.session


def test_a_refused_assertion_counts_toward_the_lockout_like_a_wrong_code(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    key = key_of(staff, client)
    other = SoftKey()  # a key never enrolled
    login(client)

    options = post_json(client, BEGIN_AUTHENTICATION).json()
    bad = post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options, tamper=True))
    assert bad.status_code == 422
    assert bad.json() == {
        "detail": "安全密钥的应答未通过验证，请重试，或改用动态口令。",
        "code": "invalid_authentication_response",
    }
    assert failures() == 1

    options = post_json(client, BEGIN_AUTHENTICATION).json()
    unknown = post_json(client, COMPLETE_AUTHENTICATION, other.assert_(options))
    assert unknown.status_code == 404 and unknown.json()["code"] == "credential_not_found"
    assert failures() == 2
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 302  # still owed

    # the third failure reaches the limit: the session ends, and nothing more is answered
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    locked = post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options, tamper=True))
    assert locked.status_code == 429
    assert locked.json() == {"detail": security_keys.MESSAGES["locked_out"], "code": "locked_out"}
    assert "_auth_user_id" not in client.session
    assert login(client).status_code == 429


def test_wrong_totp_codes_and_refused_keys_fill_one_count_and_a_key_clears_it(client, staff):
    key = key_of(staff, client)
    TOTPDevice.objects.create(user=staff, name="动态口令", confirmed=True)
    login(client)
    client.post("/admin/otp/verify/", {"otp_token": "12345"}, REMOTE_ADDR=ADDRESS)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options, tamper=True))
    assert failures() == 2
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    assert post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options)).status_code == 200
    assert failures() == 0


def test_another_users_key_is_refused_and_counted(client, staff, django_user_model):
    django_user_model.objects.create_user("staff_other", password=PASSWORD, is_staff=True)
    theirs = key_of(django_user_model.objects.get(username="staff_other"), client)
    key_of(staff, client)
    login(client)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    refused = post_json(client, COMPLETE_AUTHENTICATION, theirs.assert_(options))
    assert refused.status_code == 403 and refused.json()["code"] == "credential_user_mismatch"
    assert failures() == 1
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 302


def test_an_assertion_is_used_once(client, staff):
    key = key_of(staff, client)
    login(client)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    answer = key.assert_(options)
    assert post_json(client, COMPLETE_AUTHENTICATION, answer).status_code == 200
    replay = post_json(client, COMPLETE_AUTHENTICATION, answer)
    assert replay.status_code == 400 and replay.json()["code"] == "invalid_state"


def test_recovery_codes_still_pass_for_a_key_user(client, staff):
    key_of(staff, client)
    token = StaticToken.objects.filter(device__user=staff).first().token
    login(client)
    page = client.get("/admin/otp/verify/", REMOTE_ADDR=ADDRESS).content.decode()
    assert 'name="otp_token"' in page and "输入开通时保存的一个恢复码" in page
    assert "动态口令应用中显示的 6 位数字" not in page  # no TOTP to ask for
    client.post("/admin/otp/verify/", {"otp_token": token}, REMOTE_ADDR=ADDRESS)
    assert client.get("/admin/", REMOTE_ADDR=ADDRESS).status_code == 200
    assert not StaticToken.objects.filter(token=token).exists()


# -- account page ------------------------------------------------------------------------------


def test_account_page_removes_a_key_but_never_the_last_second_factor(client, staff):
    key = key_of(staff, client)
    login(client)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options))
    only = WebAuthnCredential.objects.get(user=staff)

    page = client.get("/admin/otp/devices/", REMOTE_ADDR=ADDRESS)
    assert page.status_code == 200 and "安全密钥 1" in page.content.decode()
    kept = client.post("/admin/otp/devices/", {"remove": only.pk}, follow=True)
    assert "这是您唯一的第二道验证方式，不能删除" in kept.content.decode()
    assert WebAuthnCredential.objects.filter(pk=only.pk).exists()

    # a second key (added in this verified session) makes the first removable; the recovery
    # codes stay as they were
    codes = sorted(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True))
    assert enrol(client, SoftKey()).status_code == 200
    assert client.get("/admin/otp/security-key/enrolled/")["Location"] == "/admin/"
    after = StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)
    assert sorted(after) == codes and len(codes) == two_factor.RECOVERY_CODE_COUNT
    assert WebAuthnCredential.objects.get(user=staff, name="安全密钥 2")
    removed = client.post("/admin/otp/devices/", {"remove": only.pk}, follow=True)
    assert "已删除安全密钥“安全密钥 1”" in removed.content.decode()
    assert list(WebAuthnCredential.objects.filter(user=staff).values_list("name", flat=True)) == [
        "安全密钥 2"
    ]


def test_account_page_cannot_remove_another_users_key(client, staff, django_user_model):
    other = django_user_model.objects.create_user("staff_other", password=PASSWORD, is_staff=True)
    key_of(other, client)
    theirs = WebAuthnCredential.objects.get(user=other)
    key = key_of(staff, client)
    TOTPDevice.objects.create(user=staff, name="动态口令", confirmed=True)
    login(client)
    options = post_json(client, BEGIN_AUTHENTICATION).json()
    post_json(client, COMPLETE_AUTHENTICATION, key.assert_(options))
    answer = client.post("/admin/otp/devices/", {"remove": theirs.pk}, follow=True)
    assert "没有找到这个安全密钥" in answer.content.decode()
    assert WebAuthnCredential.objects.filter(pk=theirs.pk).exists()
    for bad in ("", "abc", "-1"):
        answer = client.post("/admin/otp/devices/", {"remove": bad}, follow=True)
        assert answer.status_code == 200 and "没有找到这个安全密钥" in answer.content.decode()


def test_account_page_needs_a_verified_staff_session(client, staff):
    assert client.get("/admin/otp/devices/")["Location"].startswith("/admin/login/")
    key_of(staff, client)
    login(client)
    assert client.get("/admin/otp/devices/", REMOTE_ADDR=ADDRESS)["Location"].startswith(
        "/admin/otp/verify/"
    )


# -- pages under the strict policy -------------------------------------------------------------


def test_second_factor_pages_send_a_strict_policy_and_run_no_inline_script(client, staff, settings):
    settings.OTP_REQUIRED = True
    login(client)
    pages = [client.get("/admin/otp/setup/", REMOTE_ADDR=ADDRESS)]
    assert TOTPDevice.objects.filter(user=staff, confirmed=False).exists()
    enrol(client, SoftKey())
    # the key was chosen: the TOTP secret offered beside it is dropped
    assert not TOTPDevice.objects.filter(user=staff).exists()
    client.get("/admin/otp/security-key/enrolled/", REMOTE_ADDR=ADDRESS)
    pages.append(client.get("/admin/otp/devices/", REMOTE_ADDR=ADDRESS))
    client.post("/admin/logout/", REMOTE_ADDR=ADDRESS)
    login(client)
    pages.append(client.get("/admin/otp/verify/", REMOTE_ADDR=ADDRESS))
    for page in pages:
        assert page.status_code == 200
        policy = page["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.content.decode(), re.S)
        for attributes, body in scripts:
            # each script is a file of this site, or the JSON data block (not run)
            assert ('src="/static/' in attributes and not body.strip()) or (
                'type="application/json"' in attributes
            ), attributes
        assert "jsi18n" not in page.content.decode()


def test_otp_reset_removes_keys_too(client, staff):
    key_of(staff, client)
    out = io.StringIO()
    call_command("otp_reset", "staff_key", stdout=out)
    assert not WebAuthnCredential.objects.filter(user=staff).exists()
    assert not StaticDevice.objects.filter(user=staff).exists()
    assert "1 security-key" in out.getvalue()
