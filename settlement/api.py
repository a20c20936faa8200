"""The settlement pre-check on the department API (``POST /api/v1/settlement/precheck``).

It lives here, not in ``population.sharing``, because population never imports settlement; it
reuses the sharing base view (key, rate limit, endpoint scope, purpose, error shape,
Idempotency-Key). The facts are given by the caller and no person is read: no access record.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from population.sharing.api.base import ERROR_RESPONSES, SharingAPIView
from population.sharing.scopes import Endpoint
from settlement.services import settlement_precheck

PrecheckInput = inline_serializer(
    "SettlementPrecheckInput",
    {
        "city_code": serializers.CharField(help_text="6位城市区划代码，如 440700"),
        "date": serializers.DateField(help_text="按该日生效的落户政策判断"),
        "facts": serializers.DictField(
            required=False, help_text="申请人事实，名称与类型见 docs/settlement.md；null 即未知"
        ),
    },
)

PrecheckOutput = inline_serializer(
    "SettlementPrecheckAnswer",
    {
        "date": serializers.DateField(),
        "rule_set": serializers.DictField(
            help_text="city_code, city, version, document, …; demo=true（演示规则，附 notice）"
            " marks the demo city's demonstration rule set"
        ),
        "abolished": serializers.ListField(
            child=serializers.CharField(), help_text="该政策取消的渠道，如 points、investment"
        ),
        "qualifies": serializers.ListField(
            child=serializers.CharField(), help_text="条件全部满足的落户渠道代码"
        ),
        "channels": serializers.ListField(
            child=serializers.DictField(),
            help_text="每个渠道：code, name, status, conditions, unmet, missing",
        ),
    },
)


class PrecheckView(SharingAPIView):
    """政策计算器: which settlement channels the given facts meet under the rules of a city on a
    date (``settlement.services.settlement_precheck``)."""

    endpoint = Endpoint.SETTLEMENT_PRECHECK
    channel = "api.settlement_precheck"

    @extend_schema(
        operation_id="settlement_precheck",
        summary="落户条件预检（政策计算器） / settlement pre-check on given facts",
        request=PrecheckInput,
        responses={200: PrecheckOutput, **ERROR_RESPONSES, 422: ERROR_RESPONSES[400]},
        examples=[
            OpenApiExample(
                "江门 2019",
                request_only=True,
                value={
                    "city_code": "440700",
                    "date": "2019-03-01",
                    "facts": {"residence_zone": "core_district", "employment_months": 7},
                },
            )
        ],
    )
    def post(self, request):
        return self.write(request, lambda: Response(settlement_precheck(request.data)))
