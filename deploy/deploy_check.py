"""`make deploy-check`: Django's `check --deploy` (warnings fail) under a production environment,
which also runs popbase's own production refusals (config/production.py) at settings import.

    python deploy/deploy_check.py                      # a generated production-like environment
    python deploy/deploy_check.py /etc/popbase/popbase.env   # the server's real one

The env file is read as systemd reads EnvironmentFile= (KEY=VALUE, no shell expansion, so a
secret with `$` in it stays as it is). With the generated environment it also confirms that a
weak setting (DEBUG on) is refused, so the refusals are known to be live.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def production_like() -> dict[str, str]:
    return {
        "POPBASE_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "popbase.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://popbase.example.org",
        # The runtime role; migrations connect as the owner (docs/database-roles.md).
        "DATABASE_URL": "postgres://popbase_app@127.0.0.1:5432/popbase",
        "DATABASE_OWNER_URL": "postgres://popbase_owner@127.0.0.1:5432/popbase",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "AUDIT_HMAC_KEY": secrets.token_urlsafe(48),
        "AUDIT_SIGNING_KEY": secrets.token_hex(32),
        "TRUSTED_PROXY_COUNT": "1",
        "LOG_FORMAT": "json",
    }


def check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TZ"}}
    return subprocess.run(  # noqa: S603
        [sys.executable, str(REPO / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def main(argv: list[str]) -> int:
    env = read_env_file(Path(argv[1])) if len(argv) > 1 else production_like()
    done = check(env)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode != 0:
        print("deploy-check: FAILED", file=sys.stderr)
        return 1
    if len(argv) == 1:
        weak = check({**env, "DEBUG": "on"})
        if weak.returncode == 0 or "DEBUG must be off" not in weak.stderr:
            print("deploy-check: a weak setting (DEBUG on) was not refused", file=sys.stderr)
            return 1
        print("deploy-check: a weak setting (DEBUG on) is refused, as it must be")
    print("deploy-check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
