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
from population.sharing.api.inputs import MAX_ECHO, printable

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
        "不支持该请求体类型",
        "unsupported media type",
    ),
    exceptions.ParseError: ("parse_error", "请求体无法解析", "the request body cannot be parsed"),
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
    """The error shape; messages and field errors echo input only as printable, bounded text
    (an answer with a NUL could not be stored for an ``Idempotency-Key`` replay)."""
    body = {
        "code": code,
        "message_zh": _bounded(zh),
        "message_en": _bounded(en),
        "request_id": request_id_of(request),
    }
    if "errors" in extra:
        body["errors"] = _errors_bounded(extra.pop("errors"))
    return {**body, **extra}


_MAX_MESSAGE = 500


def _bounded(text) -> str:
    text = printable(str(text))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _errors_bounded(errors, depth: int = 0):
    """Field errors, at most ``MAX_ECHO`` entries per level, every text printable."""
    if isinstance(errors, dict):
        items = list(errors.items())
        out = {_bounded(k)[:200]: _errors_bounded(v, depth + 1) for k, v in items[:MAX_ECHO]}
        if len(items) > MAX_ECHO:
            out["…"] = [f"{len(items) - MAX_ECHO} more"]
        return out
    if isinstance(errors, list):
        out = [_errors_bounded(v, depth + 1) for v in errors[:MAX_ECHO]]
        if len(errors) > MAX_ECHO:
            out.append(f"{len(errors) - MAX_ECHO} more")
        return out
    return _bounded(errors)


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
        if getattr(exc, "errors", None):
            extra["errors"] = exc.errors
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
        if isinstance(exc, exceptions.UnsupportedMediaType):
            view = context.get("view")
            accepted = ", ".join(p.media_type for p in getattr(view, "parser_classes", ()))
            if accepted:
                zh, en = f"{zh}，请求体须为 {accepted}", f"{en}; send {accepted}"
        if isinstance(exc, exceptions.ValidationError):
            extra["errors"] = exc.detail
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(int(exc.wait), 1))
    else:
        # Unexpected: logged with its traceback, answered in the one shape (never HTML).
        logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
        status_code, code = 500, "server_error"
        zh, en = "服务器内部错误", "internal server error"
    return Response(error_body(request, code, zh, en, **extra), status=status_code, headers=headers)


# -- errors Django answers before or outside a DRF view (unknown URL, a body over Django's own
# limit, a crash in middleware): the same JSON shape under /api/, Django's pages elsewhere. ----


def _api_json(request, status_code: int, code: str, zh: str, en: str):
    from django.http import JsonResponse

    response = JsonResponse(error_body(request, code, zh, en), status=status_code)
    response[REQUEST_ID_HEADER] = request_id_of(request)
    return response


def handler400(request, exception=None):
    from django.core.exceptions import RequestDataTooBig
    from django.views import defaults

    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _api_json(request, 413, "too_large", "请求体过大", "the request body is too large")
    return _api_json(request, 400, "bad_request", "请求无效", "bad request")


def handler403(request, exception=None):
    from django.views import defaults

    if not request.path.startswith("/api/"):
        return defaults.permission_denied(request, exception)
    return _api_json(request, 403, *_MESSAGES[exceptions.PermissionDenied])


def handler404(request, exception=None):
    from django.views import defaults

    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    return _api_json(request, 404, *_MESSAGES[exceptions.NotFound])


def handler500(request):
    from django.views import defaults

    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return _api_json(request, 500, "server_error", "服务器内部错误", "internal server error")
