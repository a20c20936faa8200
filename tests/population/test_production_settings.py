"""``POPBASE_ENV=production`` refuses weak settings at start-up, with the reason.

Each case starts Python on the project's settings in a fresh process, as a server or worker
start would, with one setting weakened and everything else sound.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.production import DEV_AUDIT_HMAC_KEY, DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 30 + "-Zq8$x!w2@v#u%t^s&r*"  # 50 characters
SOUND = {
    "POPBASE_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "popbase.example.gov.cn",
    "AUDIT_HMAC_KEY": "h" * 20 + "-Zq8$x!w2@v#",  # 32 characters
    "AUDIT_SIGNING_KEY": "5e" * 32,  # an Ed25519 seed in hex
    # Parsed only; nothing connects at import.
    "DATABASE_URL": "postgres://popbase_app@db.invalid:5432/popbase",
    "DATABASE_OWNER_URL": "postgres://popbase_owner@db.invalid:5432/popbase",
}


def _start(**changes: str | None) -> subprocess.CompletedProcess:
    unset = {"DEBUG", "AUDIT_SIGNING_KEY_FILE", "OTP_REQUIRED", "SESSION_IDLE_MINUTES", *SOUND}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(SOUND)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print('started', s.DEBUG)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sound_production_settings_start():
    started = _start()
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "started False"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "x"}, "SECRET_KEY is 1 characters; at least 50 needed"),
        ({"SECRET_KEY": STRONG_KEY[:49]}, "SECRET_KEY is 49 characters; at least 50 needed"),
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY is the development key"),
        ({"DEBUG": "1"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must name the site's host names"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS must name the site's host names"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must not be '*'"),
        ({"SESSION_COOKIE_SECURE": "0"}, "SESSION_COOKIE_SECURE must be on"),
        ({"CSRF_COOKIE_SECURE": "false"}, "CSRF_COOKIE_SECURE must be on"),
        ({"DATABASE_OWNER_URL": None}, "DATABASE_OWNER_URL must be set"),
        ({"DATABASE_OWNER_URL": "postgres://popbase_app@db.invalid:5432/popbase"},
         "DATABASE_URL must name the runtime role"),
        ({"OTP_REQUIRED": "0"}, "OTP_REQUIRED must be on"),
        ({"SESSION_IDLE_MINUTES": "31"}, "SESSION_IDLE_MINUTES must be between 1 and 30"),
        ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES must be between 1 and 30"),
        ({"AUDIT_HMAC_KEY": None}, "AUDIT_HMAC_KEY must be set"),
        ({"AUDIT_HMAC_KEY": "h" * 31}, "AUDIT_HMAC_KEY is 31 characters; at least 32 needed"),
        ({"AUDIT_HMAC_KEY": DEV_AUDIT_HMAC_KEY}, "AUDIT_HMAC_KEY is the development key"),
        ({"AUDIT_SIGNING_KEY": None},
         "AUDIT_SIGNING_KEY_FILE or AUDIT_SIGNING_KEY must be set"),
        ({"AUDIT_SIGNING_KEY": "5e" * 31},
         "AUDIT_SIGNING_KEY must be 64 hexadecimal digits"),
        ({"AUDIT_SIGNING_KEY": "zz" * 32},
         "AUDIT_SIGNING_KEY must be 64 hexadecimal digits"),
    ],
    ids=[
        "no-key", "short-key", "49-char-key", "dev-key", "debug", "no-hosts", "blank-hosts",
        "any-host", "session-cookie", "csrf-cookie", "no-owner-url", "owner-as-runtime",
        "no-otp", "long-idle", "zero-idle",
        "no-audit-hmac", "short-audit-hmac",
        "dev-audit-hmac", "no-signing-key", "short-signing-key", "non-hex-signing-key",
    ],
)  # fmt: skip
def test_a_weak_setting_stops_the_start_with_its_reason(changes, reason):
    started = _start(**changes)
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert "POPBASE_ENV=production refuses weak settings" in started.stderr
    assert reason in started.stderr
    assert "started" not in started.stdout


def test_development_keeps_the_quickstart_defaults():
    started = subprocess.run(
        [sys.executable, "-c", "import config.settings as s;"
         "print(s.ALLOWED_HOSTS, s.SESSION_COOKIE_SECURE, len(s.SECRET_KEY) > 0)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**{k: v for k, v in os.environ.items() if k not in SOUND},
             "DATABASE_URL": SOUND["DATABASE_URL"]},
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "['127.0.0.1', 'localhost'] False True"
