"""Per-client rate limit as one atomic Redis operation (DRF's throttles are not atomic)."""

from __future__ import annotations

import collections
import math
import threading
import time
import uuid

from django.conf import settings
from django.db import connection
from rest_framework.throttling import BaseThrottle

from population.sharing.keycache import version_key

WINDOW_SECONDS = 60


# A sliding window (the log of the last minute's admitted requests, one sorted set per client):
# trimming, counting and admitting are one script, which Redis runs atomically, so simultaneous
# requests each see the others and a burst cannot double up across a minute boundary as it can
# with fixed per-minute counters. The set holds at most ``limit`` entries and expires with the
# window.
def _sliding_window(*, key: int, arg: int, answer: str = "") -> str:
    """The window's Lua: the sorted set ``KEYS[key]``, ``ARGV[arg]`` to ``ARGV[arg + 3]`` the
    time (ms), the window (ms), the limit and the new member; returns ``{allowed, remaining,
    wait ms}``, after ``answer`` (a Lua expression) when one is given."""
    first = f"{answer}, " if answer else ""
    return f"""
local now = tonumber(ARGV[{arg}])
local window = tonumber(ARGV[{arg + 1}])
local limit = tonumber(ARGV[{arg + 2}])
redis.call('ZREMRANGEBYSCORE', KEYS[{key}], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[{key}])
if n < limit then
  redis.call('ZADD', KEYS[{key}], now, ARGV[{arg + 3}])
  redis.call('PEXPIRE', KEYS[{key}], window)
end
local oldest = redis.call('ZRANGE', KEYS[{key}], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if n < limit then return {{{first}1, limit - n - 1, wait}} end
return {{{first}0, 0, wait}}
"""


_SCRIPT = _sliding_window(key=1, arg=1)

_lock = threading.Lock()
_script = None
_local_counts: dict[str, int] = {}
_local_logs: dict[str, collections.deque] = {}


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
    """Count one request in the client's last 60 s; return (allowed, remaining, seconds until
    the oldest request of the window leaves it, i.e. until one more would be admitted)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    window_ms = WINDOW_SECONDS * 1000
    # The database name keeps test databases and deployments sharing a Redis apart.
    key = f"popbase:{connection.settings_dict['NAME']}:rate:{client_id}"
    if settings.REDIS_URL:
        member = f"{now_ms}:{uuid.uuid4().hex}"
        allowed, remaining, wait_ms = _redis_script()(
            keys=[key], args=[now_ms, window_ms, limit, member]
        )
    else:  # quickstart without Redis: one process, a lock is enough
        with _lock:
            log = _local_logs.setdefault(key, collections.deque())
            while log and log[0] <= now_ms - window_ms:
                log.popleft()
            allowed = len(log) < limit
            if allowed:
                log.append(now_ms)
            remaining = max(limit - len(log), 0)
            wait_ms = log[0] + window_ms - now_ms
    return bool(allowed), int(remaining), max(math.ceil(int(wait_ms) / 1000), 1)


# A request with a key this process has already verified: one script answers everything Redis
# knows about it, in one round trip. It reads the key version (population.sharing.keycache); if
# a key or client changed since the key was verified, it counts nothing and says so, and the
# key is checked again in the database. Else it refuses an address past its failed-key limit
# (as _RESERVE would, without reserving: a verified key is no attempt to guess one), and counts
# the request in the client's window exactly as _SCRIPT does.
_ADMIT = """
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
if version ~= tonumber(ARGV[1]) then return {version, -1, 0, 0} end
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
if failures >= tonumber(ARGV[2]) then return {version, -2, 0, redis.call('TTL', KEYS[2])} end""" + (
    _sliding_window(key=3, arg=3, answer="version")
)

STALE = "stale"  # the key version moved: verify the key again
BLOCKED = "blocked"  # the address is past its failed-key limit


def verified_key_admit(
    *, version: int, address: str, client_id: int, limit: int, now: float | None = None
) -> tuple[str, int] | tuple[bool, int, int]:
    """For a key verified under key version ``version``: ``(STALE, 0)`` when the version has
    moved since (nothing counted), ``(BLOCKED, seconds)`` when ``address`` has used up its
    failed-key attempts, else the request counted in the client's window as ``rate_limit_hit``
    counts it: ``(allowed, remaining, seconds)``. One Redis round trip (needs ``REDIS_URL``)."""
    now = time.time() if now is None else now
    now_ms = int(now * 1000)
    window_ms = WINDOW_SECONDS * 1000
    name = connection.settings_dict["NAME"]
    failures = f"popbase:{name}:rate:keyfail:{address}:{int(now // key_failure_window())}"
    answer = _key_script("admit", _ADMIT)(
        keys=[version_key(), failures, f"popbase:{name}:rate:{client_id}"],
        args=[
            version,
            int(getattr(settings, "API_KEY_FAILURE_LIMIT", 20)),
            now_ms,
            window_ms,
            limit,
            f"{now_ms}:{uuid.uuid4().hex}",
        ],
    )
    _version, state, remaining, wait = (int(x) for x in answer)
    if state == -1:
        return STALE, 0
    if state == -2:
        return BLOCKED, max(wait, 1)
    return bool(state), remaining, max(math.ceil(wait / 1000), 1)


class ClientRateLimit(BaseThrottle):
    """Refuses a client's requests beyond its per-minute limit with 429 and Retry-After."""

    def allow_request(self, request, view) -> bool:
        client = getattr(request.user, "client", None)
        if client is None:
            return True
        # Already counted with the key check (verified_key_admit), in the same round trip.
        counted = getattr(request, "rate_counted", None)
        if counted is not None:
            allowed, remaining, self._wait = counted
        else:
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
