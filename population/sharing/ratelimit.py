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
