"""What ``POPBASE_ENV=production`` refuses at start-up, each with the reason.

Kept apart from the settings module so the rule is one function, tested setting by setting
(``tests/population/test_production_settings.py``).
"""

from __future__ import annotations

# The development key of settings.py: known to everyone who has read the code.
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 50


def weak_settings(
    *,
    secret_key: str,
    debug: bool,
    allowed_hosts: list[str],
    session_cookie_secure: bool,
    csrf_cookie_secure: bool,
) -> list[str]:
    """The reasons a production start must be refused (empty when none)."""
    problems = []
    if not secret_key:
        problems.append("SECRET_KEY must be set")
    elif secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY is the development key")
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            f"SECRET_KEY is {len(secret_key)} characters; at least {MIN_SECRET_KEY_LENGTH} needed"
        )
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
    return problems
