"""One base for every department endpoint: key auth, rate limit, endpoint scope, purpose,
request id, error shape and idempotent writes. Endpoints only say what they return.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from population.errors import DomainError
from population.sharing.api.authentication import ApiKeyAuthentication
from population.sharing.api.exception_handlers import (
    REQUEST_ID_HEADER,
    api_exception_handler,
    request_id_of,
)
from population.sharing.api.inputs import StrictJSONParser, body_read, json_body_limit
from population.sharing.idempotency import HEADER as IDEMPOTENCY_HEADER
from population.sharing.idempotency import idempotent
from population.sharing.ratelimit import ClientRateLimit
from population.sharing.scopes import Purpose

PURPOSE_HEADER = "X-Purpose"


class Forbidden(DomainError):
    http_status = 403


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="稳定的错误代码 / stable error code")
    message_zh = serializers.CharField()
    message_en = serializers.CharField()
    request_id = serializers.CharField(help_text="同响应头 X-Request-ID")
    errors = serializers.DictField(required=False, help_text="字段校验错误 / field errors")


ERROR_RESPONSES = {code: ErrorSerializer for code in (400, 401, 403, 404, 405, 429)}
# What a write may also answer: a body over the endpoint's limit, a body of another type.
WRITE_ERROR_RESPONSES = {**ERROR_RESPONSES, 413: ErrorSerializer, 415: ErrorSerializer}


class SharingSchema(AutoSchema):
    """Adds the purpose header to every operation and Idempotency-Key to every write."""

    def get_override_parameters(self):
        params = [
            OpenApiParameter(
                PURPOSE_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                enum=list(Purpose.values),
                description="用途（须在客户端授权范围内） / purpose, within the client's scope",
            ),
            OpenApiParameter(
                REQUEST_ID_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="可选请求号，原样回显 / optional request id, echoed back",
            ),
        ]
        if self.method in {"POST", "PUT", "PATCH", "DELETE"}:
            params.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    pattern=r"^[\x21-\x7e]{1,255}$",
                    description="重复的键返回首次应答，不再产生效果 / a repeated key replays "
                    "the first answer without a second effect",
                )
            )
        return [*super().get_override_parameters(), *params]


class SharingAPIView(APIView):
    """Base of the department API. Subclasses set ``endpoint`` (a scope code) and ``channel``."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ClientRateLimit]
    parser_classes = [StrictJSONParser]
    schema = SharingSchema()
    endpoint: str = ""
    channel: str = ""

    def get_exception_handler(self):
        return api_exception_handler

    def initialize_request(self, request, *args, **kwargs):
        request_id_of(request)
        return super().initialize_request(request, *args, **kwargs)

    def max_body_bytes(self) -> int:
        """The largest request body this endpoint reads (413 ``too_large`` beyond it)."""
        return json_body_limit()

    def read_body(self, request) -> None:
        """Read the body under ``max_body_bytes`` before anything else looks at the request."""
        body_read(request, self.max_body_bytes())

    def initial(self, request, *args, **kwargs):
        self.read_body(request)
        super().initial(request, *args, **kwargs)  # authenticate (401), rate limit (429)
        client = request.user.client
        if self.endpoint not in client.endpoints:
            raise Forbidden(
                "该客户端无权使用此接口",
                "this client may not use this endpoint",
                code="endpoint_not_allowed",
            )
        purpose = request.META.get("HTTP_X_PURPOSE", "").strip()
        if not purpose:
            raise DomainError(
                "须在 X-Purpose 头中声明用途",
                "state the purpose in the X-Purpose header",
                code="purpose_required",
            )
        if purpose not in client.purposes:
            raise Forbidden(
                "所声明的用途不在该客户端授权范围内",
                "the stated purpose is outside this client's scope",
                code="purpose_not_allowed",
            )
        self.client = client
        self.purpose = purpose

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        spooled = getattr(request, "spooled_body", None)
        if spooled is not None:  # the body's temporary file, no longer needed
            spooled.close()
        response[REQUEST_ID_HEADER] = request_id_of(request)
        limit = getattr(request, "rate_limit", None)
        if limit is not None:
            response["X-RateLimit-Limit"] = str(limit[0])
            response["X-RateLimit-Remaining"] = str(limit[1])
            response["X-RateLimit-Reset"] = str(limit[2])
        return response

    def write(self, request, run):
        """Run a write under the request's ``Idempotency-Key`` (if any)."""
        return idempotent(request, self.client, run, self.handle_exception)

    def audit_client(self, request) -> str:
        return request.META.get("REMOTE_ADDR", "")
