"""What ``POPBASE_ENV=production`` refuses at start-up, each with the reason.

Kept apart from the settings module so the rule is one function, tested setting by setting
(``tests/population/test_production_settings.py``).
"""

from __future__ import annotations

import re

# The development keys of settings.py: known to everyone who has read the code.
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
DEV_AUDIT_HMAC_KEY = "dev-only-audit-hmac-key-never-use-in-production"
MIN_SECRET_KEY_LENGTH = 50
# As long as the HMAC-SHA-256 / HMAC-SM3 output: a shorter key weakens the chain.
MIN_AUDIT_HMAC_KEY_LENGTH = 32
# Idle admin sessions end within half an hour (等保 2.0: session timeout of administrators).
MAX_SESSION_IDLE_MINUTES = 30
# AUDIT_SIGNING_KEY is the 32-byte Ed25519 seed in hex.
_ED25519_SEED_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _key_problems(name: str, value: str, development_value: str, min_length: int) -> list[str]:
    """Why the secret setting ``name`` is unfit for production: missing, the development
    value, or shorter than ``min_length`` characters (empty when it is fit)."""
    if not value:
        return [f"{name} must be set"]
    if value == development_value:
        return [f"{name} is the development key"]
    if len(value) < min_length:
        return [f"{name} is {len(value)} characters; at least {min_length} needed"]
    return []


def weak_settings(
    *,
    secret_key: str,
    debug: bool,
    allowed_hosts: list[str],
    session_cookie_secure: bool,
    csrf_cookie_secure: bool,
    otp_required: bool,
    database_user: str,
    database_owner_user: str,
    session_idle_minutes: int,
    audit_hmac_key: str,
    audit_signing_key_file: str,
    audit_signing_key: str,
) -> list[str]:
    """The reasons a production start must be refused (empty when none)."""
    problems = _key_problems("SECRET_KEY", secret_key, DEV_SECRET_KEY, MIN_SECRET_KEY_LENGTH)
    if debug:
        problems.append("DEBUG must be off")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS must name the site's host names")
    elif "*" in allowed_hosts:
        problems.append("ALLOWED_HOSTS must not be '*'")
    if not session_cookie_secure:
        problems.append("SESSION_COOKIE_SECURE must be on (session cookie over HTTPS only)")
    if not csrf_cookie_secure:
        problems.append("CSRF_COOKIE_SECURE must be on (CSRF cookie over HTTPS only)")
    if not database_owner_user:
        problems.append(
            "DATABASE_OWNER_URL must be set (the app connects as a runtime role, not the owner)"
        )
    elif database_owner_user == database_user:
        problems.append(
            "DATABASE_URL must name the runtime role, not the owner of DATABASE_OWNER_URL"
        )
    if not otp_required:
        problems.append("OTP_REQUIRED must be on (staff log in with a second factor)")
    if not 0 < session_idle_minutes <= MAX_SESSION_IDLE_MINUTES:
        problems.append(f"SESSION_IDLE_MINUTES must be between 1 and {MAX_SESSION_IDLE_MINUTES}")
    problems += _key_problems(
        "AUDIT_HMAC_KEY", audit_hmac_key, DEV_AUDIT_HMAC_KEY, MIN_AUDIT_HMAC_KEY_LENGTH
    )
    if not (audit_signing_key_file or audit_signing_key):
        problems.append("AUDIT_SIGNING_KEY_FILE or AUDIT_SIGNING_KEY must be set")
    elif not audit_signing_key_file and not _ED25519_SEED_HEX.fullmatch(audit_signing_key):
        problems.append("AUDIT_SIGNING_KEY must be 64 hexadecimal digits (an Ed25519 seed)")
    return problems
