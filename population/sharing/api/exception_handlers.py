"""One JSON error shape for the whole API: ``{code, message_zh, message_en, request_id}``.

Domain refusals (``population.errors.DomainError``) keep their stable code; DRF's own errors
get a code and a bilingual message here; validation errors add ``errors`` (field → messages).
"""

from __future__ import annotations

import logging
import re
import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from population.errors import Conflict, DomainError, NotFound

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

_MESSAGES: dict[type, tuple[str, str, str]] = {
    exceptions.NotAuthenticated: ("not_authenticated", "未提供接口密钥", "no API key was given"),
    exceptions.AuthenticationFailed: (
        "authentication_failed",
        "接口密钥无效",
        "the API key is not valid",
    ),
    exceptions.PermissionDenied: ("permission_denied", "无权访问", "not allowed"),
    exceptions.NotFound: ("not_found", "未找到", "not found"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
    exceptions.NotAcceptable: ("not_acceptable", "无法提供所要求的格式", "not acceptable"),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "请求体须为 application/json",
        "the request body must be application/json",
    ),
    exceptions.ParseError: ("malformed_request", "请求体不是合法的JSON", "malformed JSON body"),
    exceptions.ValidationError: ("invalid_input", "输入有误", "invalid input"),
    exceptions.Throttled: ("rate_limited", "请求过于频繁", "rate limit exceeded"),
}


def request_id_of(request) -> str:
    """The caller's ``X-Request-ID`` when well-formed, else a new one; fixed per request."""
    existing = getattr(request, "request_id", None)
    if existing:
        return existing
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    value = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request.request_id = value
    return value


def error_body(request, code: str, zh: str, en: str, **extra) -> dict:
    return {
        "code": code,
        "message_zh": zh,
        "message_en": en,
        "request_id": request_id_of(request),
        **extra,
    }


def api_exception_handler(exc, context):
    request = context["request"]
    headers: dict[str, str] = {}
    extra: dict = {}
    if isinstance(exc, DomainError):
        status_code = (
            status.HTTP_404_NOT_FOUND
            if isinstance(exc, NotFound)
            else status.HTTP_409_CONFLICT
            if isinstance(exc, Conflict)
            else getattr(exc, "http_status", status.HTTP_400_BAD_REQUEST)
        )
        code, zh, en = exc.code, exc.message_zh, exc.message_en
    elif isinstance(exc, Http404):
        status_code, (code, zh, en) = 404, _MESSAGES[exceptions.NotFound]
    elif isinstance(exc, DjangoPermissionDenied):
        status_code, (code, zh, en) = 403, _MESSAGES[exceptions.PermissionDenied]
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        code, zh, en = next(
            (m for cls, m in _MESSAGES.items() if isinstance(exc, cls)),
            ("error", "请求失败", "request failed"),
        )
        if hasattr(exc, "message_zh"):  # raised here with its own code and messages
            code, zh, en = exc.get_codes(), exc.message_zh, str(exc.detail)
        if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
            headers["WWW-Authenticate"] = "Api-Key"
        if isinstance(exc, exceptions.MethodNotAllowed):
            en = f"method {request.method} not allowed"
        if isinstance(exc, exceptions.ValidationError):
            extra["errors"] = exc.detail
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(int(exc.wait), 1))
    else:
        return None  # unexpected: Django's 500 handling, logged with its traceback
    return Response(error_body(request, code, zh, en, **extra), status=status_code, headers=headers)
