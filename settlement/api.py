"""The settlement pre-check on the department API (``POST /api/v1/settlement/precheck``).

It lives here, not in ``population.sharing``, because population never imports settlement; it
reuses the sharing base view (key, rate limit, endpoint scope, purpose, error shape,
Idempotency-Key). The facts are given by the caller and no person is read: no access record.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from population.inputcheck import InvalidInput
from population.sharing.api.base import ERROR_RESPONSES, WRITE_ERROR_RESPONSES, SharingAPIView
from population.sharing.api.inputs import NON_BLANK_PATTERN, StrictDateField, StrictSerializer
from population.sharing.scopes import ScopeCode
from settlement.facts import FACTS_VERSION, INPUTS
from settlement.services import settlement_precheck

# The endpoint a client's scope must list (registered by SettlementConfig.ready).
PRECHECK_ENDPOINT = ScopeCode("settlement_precheck", "落户条件预检")


def _facts_schema() -> dict:
    """The facts object as the service checks it: known names, typed values, null = unknown."""
    properties = {}
    for name, spec in INPUTS.items():
        schema = {**spec.json_schema(), "nullable": True}
        if "enum" in schema:  # OpenAPI 3.0: null must be one of the listed values too
            schema["enum"] = [*schema["enum"], None]
        if spec.type == "string" and "pattern" not in schema:
            schema["pattern"] = NON_BLANK_PATTERN
        properties[name] = schema
    return {"type": "object", "additionalProperties": False, "properties": properties}


@extend_schema_field(_facts_schema())
class FactsField(serializers.DictField):
    pass


@extend_schema_field({"type": "integer", "enum": [FACTS_VERSION]})
class FactsVersionField(serializers.IntegerField):
    """Published as the one current version; another number reaches the service, whose
    refusal names the new fields (bad_facts_version)."""


class PrecheckInput(StrictSerializer):
    """The request as published and as checked (the service checks the facts' names and types
    against docs/settlement.md, the same for the command)."""

    city_code = serializers.RegexField(
        r"^[0-9]{6}\Z", help_text="6位城市区划代码，如 440700 / 6-digit city code"
    )
    date = StrictDateField(help_text="按该日生效的落户政策判断 / YYYY-MM-DD")
    facts_version = FactsVersionField(
        required=False,
        help_text=f"事实格式版本，当前为 {FACTS_VERSION}（旧格式的请求被拒绝并指明新字段）"
        " / the facts schema version; the old shape is refused naming the new field",
    )
    facts = FactsField(
        required=False,
        help_text="申请人事实（可观察、可证明的记录：房产、租赁、参保、住址区划代码等），"
        "名称与类型见 docs/settlement.md；null 即未知",
    )
    channel = serializers.RegexField(
        r"^[a-z][a-z0-9_]{0,63}\Z",
        required=False,
        help_text="只问一个落户渠道（渠道代码，见 docs/settlement.md）/ ask about one channel only",
    )


PrecheckOutput = inline_serializer(
    "SettlementPrecheckAnswer",
    {
        "date": serializers.DateField(),
        "rule_set": serializers.DictField(
            help_text="city_code, city, version, document, reading, basis（决定该规则的文件："
            "base 及其后的 extend/supersede，各附 changes）, …; demo=true（演示规则，附 notice）"
            " marks the demo city's demonstration rule set"
        ),
        "notes": serializers.ListField(
            child=serializers.DictField(),
            help_text="规则集的说明：zh，by=document（文件原文）或 popbase（popbase 的理解）",
        ),
        "zones": serializers.DictField(help_text="该市规则的区域表：代码 → 名称"),
        "abolished": serializers.ListField(
            child=serializers.CharField(), help_text="该政策取消的渠道，如 points、investment"
        ),
        "qualifies": serializers.ListField(
            child=serializers.CharField(), help_text="条件全部满足的落户渠道代码"
        ),
        "channels": serializers.ListField(
            child=serializers.DictField(),
            help_text=(
                "每个渠道：code, name, source（条款）, clause_text（文件原文）, status"
                "（met 符合 / unmet 不符合 / missing 需补充事实）, verdict_zh, conditions,"
                " unmet（仅不满足的条件；“之一”组为一行）, failing（同上，结构化）,"
                " missing（仅可能改变结论的未知事实）, missing_zh, ask（为此须填写的事实）,"
                " ask_zh, observe, notes（by=popbase）,"
                " constants, placeholders（popbase 占位取值）,"
                " decided_by（修订文件文号；空为基础文件）"
            ),
        ),
    },
)


class PrecheckView(SharingAPIView):
    """政策计算器: which settlement channels the given facts meet under the rules of a city on a
    date (``settlement.services.settlement_precheck``)."""

    endpoint = PRECHECK_ENDPOINT.name
    channel = "api.settlement_precheck"

    @extend_schema(
        operation_id="settlement_precheck",
        summary="落户条件预检（政策计算器） / settlement pre-check on given facts",
        request=PrecheckInput,
        responses={200: PrecheckOutput, **WRITE_ERROR_RESPONSES, 422: ERROR_RESPONSES[400]},
        examples=[
            OpenApiExample(
                "江门 2019",
                request_only=True,
                value={
                    "city_code": "440700",
                    "date": "2019-03-01",
                    "facts_version": FACTS_VERSION,
                    "facts": {
                        "residence_region_code": "440703",
                        "employment_region_code": "440704",
                        "employment_months": 7,
                        "rents_home": True,
                        "rental_registered": False,
                        "insurance": [
                            {
                                "kind": "pension",
                                "type": "urban_employee",
                                "region_code": "440703",
                                "months": 7,
                            }
                        ],
                    },
                },
            )
        ],
    )
    def post(self, request):
        return self.write(request, lambda: self._precheck(request))

    def _precheck(self, request):
        if not isinstance(request.data, dict):
            raise InvalidInput("请求须为 JSON 对象", "the request must be a JSON object",
                               code="bad_request")  # fmt: skip
        checked = PrecheckInput(data=request.data)
        if not checked.is_valid():
            code = "bad_facts" if set(checked.errors) == {"facts"} else "bad_request"
            raise InvalidInput("请求有误", "bad request", code=code, errors=checked.errors)
        return Response(settlement_precheck(request.data))
