"""Per-client rate limit as one atomic Redis operation (DRF's throttles are not atomic)."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60

# INCR and EXPIRE in one script: Redis runs it atomically, so simultaneous requests each get a
# distinct count and the window always expires, even if a process dies between the two steps.
_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""

_lock = threading.Lock()
_script = None
_local_counts: dict[str, int] = {}


def _redis_script():
    global _script
    if _script is None:
        import redis

        with _lock:
            if _script is None:
                _script = redis.Redis.from_url(settings.REDIS_URL).register_script(_SCRIPT)
    return _script


def rate_limit_hit(
    *, client_id: int, limit: int, now: float | None = None
) -> tuple[bool, int, int]:
    """Count one request; return (allowed, remaining, seconds until the window resets)."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    # The database name keeps test databases and deployments sharing a Redis apart.
    key = f"popbase:{connection.settings_dict['NAME']}:rate:{client_id}:{window}"
    if settings.REDIS_URL:
        count, ttl = _redis_script()(keys=[key], args=[WINDOW_SECONDS])
    else:  # quickstart without Redis: one process, a lock is enough
        with _lock:
            _local_counts[key] = count = _local_counts.get(key, 0) + 1
        ttl = WINDOW_SECONDS - int(now % WINDOW_SECONDS)
    ttl = max(int(ttl), 1)
    return count <= limit, max(limit - count, 0), ttl


class ClientRateLimit(BaseThrottle):
    """Refuses a client's requests beyond its per-minute limit with 429 and Retry-After."""

    def allow_request(self, request, view) -> bool:
        client = getattr(request.user, "client", None)
        if client is None:
            return True
        allowed, remaining, self._wait = rate_limit_hit(
            client_id=client.pk, limit=client.rate_limit_per_minute
        )
        request.rate_limit = (client.rate_limit_per_minute, remaining, self._wait)
        return allowed

    def wait(self) -> float:
        return self._wait


# -- failed API-key attempts per client address ----------------------------------------------

# Reserve one attempt unless the address has used up its failures: the check and the count are
# one atomic step, so simultaneous guesses cannot slip past the limit between them. A request
# whose key turns out valid gives its reservation back (_RELEASE): only failures count.
_RESERVE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then return {0, redis.call('TTL', KEYS[1])} end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {1, redis.call('TTL', KEYS[1])}
"""
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 0
"""
_key_scripts: dict[str, object] = {}


def _key_script(name: str, source: str):
    if name not in _key_scripts:
        import redis

        with _lock:
            if name not in _key_scripts:
                connection_ = redis.Redis.from_url(settings.REDIS_URL)
                _key_scripts[name] = connection_.register_script(source)
    return _key_scripts[name]


def key_failure_window() -> int:
    return int(getattr(settings, "API_KEY_FAILURE_WINDOW_SECONDS", 600))


def key_attempt_reserve(*, address: str, now: float | None = None) -> tuple[str | None, int]:
    """Reserve one key attempt for ``address``: (the reservation, 0), or (None, seconds to
    wait) when the address already failed ``API_KEY_FAILURE_LIMIT`` times in this window."""
    now = time.time() if now is None else now
    window_seconds = key_failure_window()
    limit = int(getattr(settings, "API_KEY_FAILURE_LIMIT", 20))
    window = int(now // window_seconds)
    key = f"popbase:{connection.settings_dict['NAME']}:rate:keyfail:{address}:{window}"
    if settings.REDIS_URL:
        allowed, ttl = _key_script("reserve", _RESERVE)(keys=[key], args=[window_seconds, limit])
    else:  # quickstart without Redis: one process, a lock is enough
        with _lock:
            count = _local_counts.get(key, 0)
            allowed = count < limit
            if allowed:
                _local_counts[key] = count + 1
        ttl = window_seconds - int(now % window_seconds)
    if not allowed:
        return None, max(int(ttl), 1)
    return key, 0


def key_attempt_release(reservation: str) -> None:
    """The key was valid: the attempt does not count as a failure."""
    if settings.REDIS_URL:
        _key_script("release", _RELEASE)(keys=[reservation])
    else:
        with _lock:
            if _local_counts.get(reservation, 0) > 0:
                _local_counts[reservation] -= 1
