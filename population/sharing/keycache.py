"""Verified API keys cached per process, dropped at once when any key or client changes."""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connection, transaction

from population.sharing.models import ApiKey

# Verified keys, per process: sha256(presented key) -> (key version when verified, ApiKey with its
# client). An entry is used only while the key version is unchanged; every service that revokes,
# rotates or changes a client's scope bumps it (population.sharing.services), so a revocation
# takes effect on the very next request in every process. Expiry is checked on each request.
verified: dict[str, tuple[int, ApiKey]] = {}
VERIFIED_MAX = 10_000
_local_version = 0
_redis = None
_redis_lock = threading.Lock()


def version_key() -> str:
    """The Redis key of the version (read with the rate limit: ``verified_key_admit``)."""
    return f"popbase:{connection.settings_dict['NAME']}:api_keys:version"


def _redis_client():
    global _redis
    if _redis is None:
        import redis

        with _redis_lock:
            if _redis is None:
                _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


def keys_version() -> int:
    if not settings.REDIS_URL:  # quickstart: one process
        return _local_version
    return int(_redis_client().get(version_key()) or 0)


def _bump() -> None:
    global _local_version
    if settings.REDIS_URL:
        _redis_client().incr(version_key())
    else:
        _local_version += 1


def api_keys_changed() -> None:
    """Forget every verified key now and again when the change commits (a request verifying
    in between would otherwise keep what the change is about to end)."""
    _bump()
    transaction.on_commit(_bump)
