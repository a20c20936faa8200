"""API-key authentication for department clients (``Authorization: Api-Key <prefix>.<secret>``).

djangorestframework-api-key stores only the prefix and a SHA-512 hash of the key; its own
permission class is invisible to drf-spectacular, so it is wrapped here in an authentication
class with an OpenAPI extension, which also makes a missing or bad key a 401, not a 403.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from population.sharing.keycache import VERIFIED_MAX, keys_version, verified
from population.sharing.models import ApiClient, ApiKey
from population.sharing.ratelimit import (
    BLOCKED,
    STALE,
    key_attempt_release,
    key_attempt_reserve,
    verified_key_admit,
)

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ClientPrincipal:
    """``request.user`` on the sharing API: the department client, not a staff account."""

    client: ApiClient
    key_prefix: str
    pk = None
    is_authenticated = True
    is_anonymous = False

    @property
    def username(self) -> str:
        return f"api:{self.client.code}"


@functools.cache
def _key_sql() -> tuple[str, list[str], list[str]]:
    """The key-with-client lookup, built once: compiling the ORM query on every request costs
    more than running it (one index probe on the unique prefix)."""
    key_cols = [f.attname for f in ApiKey._meta.concrete_fields]
    client_cols = [f.attname for f in ApiClient._meta.concrete_fields]
    select = ", ".join([f'k."{c}"' for c in key_cols] + [f'c."{c}"' for c in client_cols])
    sql = (
        f"SELECT {select} FROM {ApiKey._meta.db_table} k"  # noqa: S608 (metadata only)
        f' JOIN {ApiClient._meta.db_table} c ON c."id" = k."client_id" WHERE k."prefix" = %s'
    )
    return sql, key_cols, client_cols


def _key_with_client(prefix: str) -> ApiKey | None:
    sql, key_cols, _client_cols = _key_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    api_key = ApiKey.from_db(connection.alias, None, row[: len(key_cols)])
    ApiKey.client.field.set_cached_value(
        api_key, ApiClient.from_db(connection.alias, None, row[len(key_cols) :])
    )
    return api_key


class _Refused(exceptions.AuthenticationFailed):
    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(detail=en, code=code)
        self.message_zh = zh


class _TooManyFailures(exceptions.Throttled):
    def __init__(self, wait: int) -> None:
        super().__init__(
            detail="too many failed API-key attempts from this address; try again later",
            code="too_many_key_failures",
        )
        self.wait = wait  # set after: DRF would append a translated sentence to the message
        self.message_zh = "此地址接口密钥错误次数过多，请稍后再试"


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR, or behind ``TRUSTED_PROXY_COUNT`` proxies the
    X-Forwarded-For entry the nearest trusted proxy saw."""
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _usable(api_key: ApiKey) -> bool:
    """Not revoked, not expired (checked on every request), client active: as verified."""
    return not api_key.revoked and not api_key.has_expired and api_key.client.is_active


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # -> 401 not_authenticated
        keyword, _, key = header.partition(" ")
        key = key.strip()
        if keyword != KEYWORD or not key or "." not in key:
            raise _Refused(
                "bad_authorization_header",
                "Authorization 头格式应为 Api-Key <密钥>",
                "the Authorization header must be Api-Key <key>",
            )
        address = client_address(request)
        digest = hashlib.sha256(key.encode()).hexdigest()
        cached = verified.get(digest)
        if cached is not None and settings.REDIS_URL and _usable(cached[1]):
            # Verified before in this process: the key version, the address's failures and the
            # rate limit are one Redis round trip, and no SQL; a change to any key or client
            # since (revoked, rotated, narrowed, disabled) moves the version and sends the key
            # through the full check below.
            api_key = cached[1]
            client = api_key.client
            answer = verified_key_admit(
                version=cached[0],
                address=address,
                client_id=client.pk,
                limit=client.rate_limit_per_minute,
            )
            if answer[0] == BLOCKED:
                raise _TooManyFailures(answer[1])
            if answer[0] != STALE:
                request.rate_counted = answer
                return ClientPrincipal(client=client, key_prefix=api_key.prefix), api_key
        # Failed keys are limited per client address (guessing keys is slowed to a crawl); the
        # attempt is reserved before the key is checked and given back when it is valid.
        reservation, wait = key_attempt_reserve(address=address)
        if reservation is None:
            raise _TooManyFailures(wait)
        version = keys_version()  # read before the database, so a change in between wins
        cached = verified.get(digest)
        if cached is not None and cached[0] == version:
            api_key = cached[1]
        else:
            api_key = _key_with_client(key.partition(".")[0])
            if api_key is None or not api_key.is_valid(key):
                raise _Refused("invalid_api_key", "接口密钥无效", "the API key is not valid")
            if len(verified) >= VERIFIED_MAX:
                verified.clear()
            verified[digest] = (version, api_key)
        if api_key.revoked:
            raise _Refused("api_key_revoked", "接口密钥已吊销", "the API key has been revoked")
        if api_key.has_expired:
            raise _Refused("api_key_expired", "接口密钥已过期", "the API key has expired")
        if not api_key.client.is_active:
            raise _Refused("client_disabled", "接口客户端已停用", "the API client is disabled")
        key_attempt_release(reservation)
        return ClientPrincipal(client=api_key.client, key_prefix=api_key.prefix), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`：部门接口密钥 / a department key",
        }
