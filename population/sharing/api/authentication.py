"""API-key authentication for department clients (``Authorization: Api-Key <prefix>.<secret>``).

djangorestframework-api-key stores only the prefix and a SHA-512 hash of the key; its own
permission class is invisible to drf-spectacular, so it is wrapped here in an authentication
class with an OpenAPI extension, which also makes a missing or bad key a 401, not a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from population.sharing.models import ApiClient, ApiKey

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


class _Refused(exceptions.AuthenticationFailed):
    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(detail=en, code=code)
        self.message_zh = zh


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
        prefix = key.partition(".")[0]
        api_key = (
            ApiKey.objects.select_related("client")
            .filter(prefix=prefix)
            .only(
                "id", "prefix", "hashed_key", "revoked", "expiry_date", "client",
                *(f"client__{f.attname}" for f in ApiClient._meta.concrete_fields),
            )
            .first()
        )  # fmt: skip
        if api_key is None or not api_key.is_valid(key):
            raise _Refused("invalid_api_key", "接口密钥无效", "the API key is not valid")
        if api_key.revoked:
            raise _Refused("api_key_revoked", "接口密钥已吊销", "the API key has been revoked")
        if api_key.has_expired:
            raise _Refused("api_key_expired", "接口密钥已过期", "the API key has expired")
        if not api_key.client.is_active:
            raise _Refused("client_disabled", "接口客户端已停用", "the API client is disabled")
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
