"""Department endpoints: thin views over the sharing selectors, on one base."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from population.audit import access_log_record, person_reads, read_cursor_parse
from population.audit_labels import channel_label
from population.departments import FEED_DEPARTMENTS
from population.errors import DomainError, NotFound
from population.identity import mask_citizen_id
from population.models import Person, Region
from population.sharing import selectors
from population.sharing.api.base import (
    ERROR_RESPONSES,
    WRITE_ERROR_RESPONSES,
    Forbidden,
    SharingAPIView,
)
from population.sharing.api.inputs import (
    CONTROL,
    MAX_ECHO,
    DigitsField,
    SpooledBody,
    StrictDateField,
    StrictSerializer,
    TextField,
    body_spool,
    citizen_id_checked,
    echo,
    printable,
    query_validate,
    strict_date,
)
from population.sharing.facts import derived_fact_hook
from population.sharing.scopes import Endpoint, PersonField, Purpose
from population.statistics import selectors as stats_selectors
from population.sync import selectors as sync_selectors
from population.sync import services as sync_services
from population.sync.models import BatchSource

MAX_BATCH = 1000
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _person_not_found() -> NotFound:
    # The same answer for an unknown person and for one outside the client's scope.
    return NotFound("未找到该人员", "no such person", code="person_not_found")


class _AuditMixin:
    def audit_purpose(self) -> str:
        return f"{self.purpose} {Purpose(self.purpose).label}"

    def audit(self, request, *, person_ids, fields) -> None:
        """Append the read to the access log; if that fails the read fails (no answer)."""
        access_log_record(
            user=request.user,
            channel=self.channel,
            purpose=self.audit_purpose(),
            person_ids=person_ids,
            fields=fields,
            client=self.audit_client(request),
        )


class RegionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class PersonOutputSerializer(serializers.Serializer):
    citizen_id = serializers.CharField(help_text="掩码（前6后4）除非授权完整号码")
    citizen_id_masked = serializers.BooleanField()
    name = serializers.CharField(required=False)
    sex = serializers.IntegerField(required=False, help_text="1 男，2 女（GB/T 2261.1）")
    birth_date = serializers.DateField(required=False)
    ethnicity = serializers.CharField(required=False, help_text="GB 3304 代码")
    status = serializers.CharField(required=False)
    hukou_region = RegionSerializer(required=False, allow_null=True)
    residence_region = RegionSerializer(required=False, allow_null=True)


def _region(region: Region | None) -> dict | None:
    return None if region is None else {"code": region.code, "name": region.name}


def person_fields_requested(client, raw: str | None) -> list[str]:
    """The fields to return: those asked for (all of the scope's when none), all in scope."""
    if raw is None or not raw.strip():
        return [f for f in PersonField.values if f in client.person_fields]
    asked = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = sorted(set(asked) - set(PersonField.values))
    if unknown:
        raise DomainError(
            f"未知字段：{echo(unknown)}", f"unknown fields: {echo(unknown)}", code="unknown_field"
        )
    outside = sorted(set(asked) - set(client.person_fields))
    if outside:
        raise Forbidden(
            f"字段不在授权范围内：{echo(outside)}",
            f"fields outside this client's scope: {echo(outside)}",
            code="field_not_allowed",
        )
    return [f for f in PersonField.values if f in asked]


def person_represent(client, person: Person, fields: list[str]) -> dict:
    out: dict = {
        "citizen_id": person.citizen_id
        if client.full_citizen_id
        else mask_citizen_id(person.citizen_id),
        "citizen_id_masked": not client.full_citizen_id,
    }
    for name in fields:
        if name in {"hukou_region", "residence_region"}:
            out[name] = _region(getattr(person, name))
        else:
            out[name] = getattr(person, name)
    return out


_FIELD_NAMES = "|".join(PersonField.values)
_FIELD_LIST = RegexValidator(rf"^(({_FIELD_NAMES})(,({_FIELD_NAMES}))*)?$")

_CITIZEN_ID_PARAM = OpenApiParameter(
    "citizen_id",
    {"type": "string", "format": "citizen-id"},
    OpenApiParameter.PATH,
    description="公民身份号码（18位，或15位旧号码，GB 11643 校验位）；格式错误为400 "
    "invalid_citizen_id / citizen ID (18 characters or a legacy 15-digit number, checked "
    "against its check digit and birth date); malformed: 400",
)


class PersonQuery(StrictSerializer):
    fields = TextField(
        required=False,
        allow_blank=True,
        max_length=500,
        validators=[_FIELD_LIST],
        help_text="逗号分隔的字段，须在授权范围内；省略则返回授权的全部字段 / "
        f"comma-separated, within scope: {', '.join(PersonField.values)}",
    )


class PersonView(_AuditMixin, SharingAPIView):
    """The fields the client's scope allows; the citizen ID masked unless the scope allows it.
    A person unknown or outside the client's regions gets the same 404; a malformed number is
    400 ``invalid_citizen_id``."""

    endpoint = Endpoint.PERSONS
    channel = "api.persons"

    @extend_schema(
        operation_id="person_retrieve",
        summary="按公民身份号码查询人员 / a person by citizen ID",
        parameters=[_CITIZEN_ID_PARAM, PersonQuery],
        responses={200: PersonOutputSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, citizen_id: str):
        citizen_id = citizen_id_checked(citizen_id)
        # Most lookups send no query string: nothing to validate.
        query = (
            query_validate(PersonQuery, request, {"fields": "unknown_field"})
            if request.query_params
            else {}
        )
        fields = person_fields_requested(self.client, query.get("fields"))
        # The read and its access-log row are one statement (one transaction): the row is
        # written before the answer leaves, and only for a person the answer shows.
        person = selectors.person_read_logged(
            client=self.client,
            citizen_id=citizen_id,
            user=request.user,
            channel=self.channel,
            purpose=self.audit_purpose(),
            fields=["citizen_id", *fields],
            address=self.audit_client(request),
        )
        if person is None:
            raise _person_not_found()
        return Response(person_represent(self.client, person, fields))


class FactView(_AuditMixin, SharingAPIView):
    """A yes/no answer (e.g. holds a local hukou, lives in a district) instead of the data."""

    endpoint = Endpoint.FACTS
    channel = "api.facts"

    @extend_schema(
        operation_id="person_fact",
        summary="事实核验：是/否 / a derived yes-or-no fact about a person",
        parameters=[
            _CITIZEN_ID_PARAM,
            OpenApiParameter(
                "fact",
                str,
                OpenApiParameter.PATH,
                description="事实名称",
                enum=sorted(derived_fact_hook.keys()),
            ),
            OpenApiParameter(
                "region",
                str,
                pattern=r"^[0-9]{2,12}$",
                description="区划代码或其前缀（hukou_in_region、lives_in_region 必填）",
            ),
        ],
        responses={
            200: inline_serializer(
                "FactAnswer", {"fact": serializers.CharField(), "value": serializers.BooleanField()}
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request, citizen_id: str, fact: str):
        citizen_id = citizen_id_checked(citizen_id)
        definition = derived_fact_hook.get(fact)
        if definition is None:
            raise NotFound(
                f"未知事实：{echo([fact])}", f"unknown fact: {echo([fact])}", code="fact_unknown"
            )
        if fact not in self.client.facts:
            raise Forbidden(
                "该事实不在授权范围内", "this fact is outside the client's scope",
                code="fact_not_allowed",
            )  # fmt: skip
        params = {}
        for name, clean in definition.params.items():
            raw = request.query_params.get(name)
            if raw is None:
                raise DomainError(f"缺少参数 {name}", f"parameter {name} is required",
                                  code="parameter_required")  # fmt: skip
            if CONTROL.search(raw):
                raise DomainError(f"参数 {name} 含有控制字符", f"parameter {name} contains a "
                                  "control character", code="invalid_character")  # fmt: skip
            params[name] = clean(raw)
        person = selectors.person_get_for_client(client=self.client, citizen_id=citizen_id)
        if person is None:
            raise _person_not_found()
        value = bool(definition.evaluate(person, params))
        self.audit(request, person_ids=[person.pk], fields=[f"fact:{fact}"])
        return Response({"fact": fact, "value": value})


class VerificationItemSerializer(StrictSerializer):
    citizen_id = TextField(max_length=32)
    name = TextField(max_length=50)
    birth_date = StrictDateField(required=False, help_text="YYYY-MM-DD")


def _item_text(item: dict, name: str, max_length: int, errors: dict) -> str | None:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["This field is required."]
        return None
    if len(value) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
        return None
    if CONTROL.search(value):
        errors[name] = ["control characters are not allowed"]
        return None
    return value


_ITEM_FIELDS = {"citizen_id", "name", "birth_date"}


@extend_schema_field(VerificationItemSerializer(many=True))
class VerificationItemsField(serializers.Field):
    """The batch, checked in one plain loop: a nested serializer per item costs more than the
    whole set-based match of 1,000 pairs. Same rules as ``VerificationItemSerializer``."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("Expected a list of items.")
        if not 1 <= len(data) <= MAX_BATCH:
            raise serializers.ValidationError(f"Give 1 to {MAX_BATCH} items.")
        out, errors = [], {}
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                errors[index] = {"non_field_errors": ["Expected an object."]}
                continue
            item_errors: dict = {}
            for name in sorted(set(item) - _ITEM_FIELDS)[:MAX_ECHO]:
                item_errors[printable(str(name))[:64]] = ["unknown field"]
            citizen_id = _item_text(item, "citizen_id", 32, item_errors)
            name = _item_text(item, "name", 50, item_errors)
            born = item.get("birth_date")
            if "birth_date" in item:  # given: a date (null is not one)
                born = strict_date(born)
                if born is None:
                    item_errors["birth_date"] = ["Date has wrong format. Use YYYY-MM-DD."]
            if item_errors:
                errors[index] = item_errors
            else:
                out.append({"citizen_id": citizen_id, "name": name, "birth_date": born})
        if errors:
            raise serializers.ValidationError(errors)
        return out

    def to_representation(self, value):
        return value


class VerificationInputSerializer(StrictSerializer):
    citizen_id = TextField(max_length=32, required=False)
    name = TextField(max_length=50, required=False)
    birth_date = StrictDateField(required=False, help_text="YYYY-MM-DD")
    items = VerificationItemsField(
        required=False,
        help_text=f"批量核验，至多{MAX_BATCH}条 / batch form, at most {MAX_BATCH}",
    )

    def validate(self, attrs):
        single = "citizen_id" in attrs or "name" in attrs
        if single == ("items" in attrs):
            raise serializers.ValidationError(
                "give either citizen_id and name, or items", code="one_form"
            )
        if single and not ("citizen_id" in attrs and "name" in attrs):
            raise serializers.ValidationError("citizen_id and name are both required")
        if "items" in attrs and "birth_date" in attrs:
            raise serializers.ValidationError("birth_date belongs in each item", code="one_form")
        return super().validate(attrs)


class VerificationSingleSerializer(StrictSerializer):
    """One pair: citizen ID and name (and birth date)."""

    citizen_id = TextField(max_length=32)
    name = TextField(max_length=50)
    birth_date = StrictDateField(required=False, help_text="YYYY-MM-DD")


class VerificationBatchSerializer(StrictSerializer):
    """Up to 1,000 pairs, answered in request order (schema only: ``VerificationItemsField``
    checks them)."""

    items = serializers.ListField(
        child=VerificationItemSerializer(),
        min_length=1,
        max_length=MAX_BATCH,
        help_text=f"批量核验，至多{MAX_BATCH}条 / at most {MAX_BATCH}",
    )


VerificationRequest = PolymorphicProxySerializer(
    component_name="VerificationInput",
    serializers=[VerificationSingleSerializer, VerificationBatchSerializer],
    resource_type_field_name=None,
)


class VerificationView(_AuditMixin, SharingAPIView):
    """Citizen ID and name (optionally birth date): match or no match, nothing else.
    Batch form: ``items``, up to 1,000, answered in one query, in request order."""

    endpoint = Endpoint.VERIFICATIONS
    channel = "api.verifications"

    @extend_schema(
        operation_id="verification_create",
        summary="身份核验：一致/不一致 / verify citizen ID and name: match or no match",
        request=VerificationRequest,
        responses={
            200: inline_serializer(
                "VerificationAnswer",
                {
                    "match": serializers.BooleanField(required=False),
                    "matches": serializers.ListField(
                        child=serializers.BooleanField(), required=False
                    ),
                },
            ),
            **WRITE_ERROR_RESPONSES,
            422: ERROR_RESPONSES[400],
        },
    )
    def post(self, request):
        if "HTTP_IDEMPOTENCY_KEY" not in request.META:
            # Its one write is the access-log row, in the same statement as the match: that
            # statement is its own transaction, no savepoint (and round trip) around it.
            return self._verify(request)
        return self.write(request, lambda: self._verify(request))

    def _verify(self, request):
        data = VerificationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attrs = data.validated_data
        raw = attrs.get("items") or [attrs]
        items = [
            selectors.VerificationItem(i["citizen_id"], i["name"], i.get("birth_date")) for i in raw
        ]
        fields = ["citizen_id", "name"]
        if any(i.birth_date for i in items):
            fields.append("birth_date")
        # The match and its access-log row: one statement (see the selector).
        matches, _person_ids = selectors.verifications_match(
            client=self.client,
            items=items,
            user=request.user,
            channel=self.channel,
            purpose=self.audit_purpose(),
            fields=fields,
            address=self.audit_client(request),
        )
        if "items" in attrs:
            return Response({"matches": matches}, status=status.HTTP_200_OK)
        return Response({"match": matches[0]}, status=status.HTTP_200_OK)


class ChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="变更序号（递增） / feed position, increasing")
    kind = serializers.CharField()
    effective_date = serializers.DateField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    citizen_id = serializers.CharField(help_text="掩码，除非授权完整号码")


class ChangesQuery(StrictSerializer):
    cursor = DigitsField(
        required=False,
        min_value=0,
        max_value=10**18 - 1,
        help_text="上一页的 next_cursor；省略则从头开始 / the previous page's next_cursor",
    )
    limit = DigitsField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE,
        default=DEFAULT_PAGE,
        help_text=f"每页条数，1至{MAX_PAGE}，默认{DEFAULT_PAGE}",
    )


class ChangesView(_AuditMixin, SharingAPIView):
    """Changes of the kinds the client subscribes to, in commit order. Keep ``next_cursor``
    and pass it back: nothing is missed, nothing is repeated."""

    endpoint = Endpoint.CHANGES
    channel = "api.changes"

    @extend_schema(
        operation_id="changes_list",
        summary="变更订阅（游标分页） / change feed, cursor-paginated",
        parameters=[ChangesQuery],
        responses={
            200: inline_serializer(
                "ChangePage",
                {
                    "results": ChangeSerializer(many=True),
                    "next_cursor": serializers.CharField(),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request):
        query = query_validate(
            ChangesQuery, request, {"cursor": "invalid_cursor", "limit": "invalid_limit"}
        )
        cursor, limit = query.get("cursor", 0), query["limit"]
        rows = selectors.changes_page(client=self.client, after=cursor, limit=limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        full = self.client.full_citizen_id
        results = [
            {
                "id": r.id,
                "kind": r.kind,
                "effective_date": r.effective_date,
                "recorded_at": r.recorded_at,
                "citizen_id": r.citizen_id if full else mask_citizen_id(r.citizen_id),
            }
            for r in rows
        ]
        if rows:
            self.audit(
                request,
                person_ids=[r.person_id for r in rows],
                fields=["citizen_id", "change_kind"],
            )
        next_cursor = str(rows[-1].id) if rows else str(cursor)
        return Response({"results": results, "next_cursor": next_cursor, "has_more": has_more})


# -- who read this person (PIPL art. 45: the person's right to know) ------------------------

_READ_CURSOR = RegexValidator(r"^[0-9]{1,17}_[0-9]{1,18}$")
READS_MAX_PAGE = 200
READS_DEFAULT_PAGE = 50


class _GivenTextField(TextField):
    """Given but empty ("?cursor=") is refused, not taken as absent (DRF's form handling)."""

    def get_value(self, dictionary):
        if self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)


class PersonReadsQuery(StrictSerializer):
    cursor = _GivenTextField(
        required=False,
        max_length=40,
        validators=[_READ_CURSOR],
        help_text="上一页的 next_cursor；省略则从最新开始 / the previous page's next_cursor",
    )
    limit = DigitsField(
        required=False,
        min_value=1,
        max_value=READS_MAX_PAGE,
        default=READS_DEFAULT_PAGE,
        help_text=f"每页条数，1至{READS_MAX_PAGE}，默认{READS_DEFAULT_PAGE}",
    )


class PersonReadSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="查阅时间 / when")
    accessor = serializers.CharField(help_text="查阅人（工作人员或部门客户端） / who read")
    channel = serializers.CharField(help_text="渠道代码 / channel code, e.g. api.persons")
    channel_label = serializers.CharField(help_text="渠道中文名称")
    purpose = serializers.CharField(help_text="所声明的用途 / the purpose stated")
    fields = serializers.ListField(child=serializers.CharField(), help_text="读取的字段代码")


class PersonReadsView(_AuditMixin, SharingAPIView):
    """Who read this person's data, when, for what purpose and through which channel, newest
    first, keyset-paginated. Only with the purpose ``data_subject_request`` (the person's own
    request, made through the client) and for persons in the client's regions; unknown and
    outside both give 404. A read appears once sealed (seconds after it happened)."""

    endpoint = Endpoint.PERSON_READS
    channel = "api.person_reads"

    @extend_schema(
        operation_id="person_reads_list",
        summary="查阅记录：谁查阅了此人的信息（游标分页） / who read this person, paginated",
        parameters=[_CITIZEN_ID_PARAM, PersonReadsQuery],
        responses={
            200: inline_serializer(
                "PersonReadPage",
                {
                    "results": PersonReadSerializer(many=True),
                    "next_cursor": serializers.CharField(
                        allow_null=True, help_text="下一页的游标；没有更多时为 null"
                    ),
                    "has_more": serializers.BooleanField(),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request, citizen_id: str):
        citizen_id = citizen_id_checked(citizen_id)
        if self.purpose != Purpose.DATA_SUBJECT_REQUEST:
            raise Forbidden(
                "查阅记录仅可按本人申请查询（用途 data_subject_request）",
                "reads are listed only on the person's own request (purpose data_subject_request)",
                code="purpose_not_allowed",
            )
        query = query_validate(
            PersonReadsQuery, request, {"cursor": "invalid_cursor", "limit": "invalid_limit"}
        )
        after = read_cursor_parse(query["cursor"]) if query.get("cursor") else None
        person = selectors.person_get_for_client(client=self.client, citizen_id=citizen_id)
        if person is None:
            raise _person_not_found()
        limit = query["limit"]
        reads = person_reads(person.pk, after=after, limit=limit + 1)
        has_more = len(reads) > limit
        reads = reads[:limit]
        self.audit(request, person_ids=[person.pk], fields=["citizen_id", "reads"])
        results = [
            {
                "at": r.at,
                "accessor": r.username,
                "channel": r.channel,
                "channel_label": channel_label(r.channel),
                "purpose": r.purpose,
                "fields": r.fields,
            }
            for r in reads
        ]
        return Response(
            {
                "results": results,
                "next_cursor": reads[-1].cursor if has_more else None,
                "has_more": has_more,
            }
        )


# -- department feeds: a department pushes a file; the sync pipeline processes it -------------

FEED_MEDIA_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl"}


class RawFileParser(BaseParser):
    """The request body as it came (bytes, read under the feed limit): a CSV or JSON Lines
    file."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        spooled = getattr(stream, "spooled_body", None)
        if spooled is not None:  # read to a file as it came (inputs.body_spool)
            return spooled
        return stream.read() if stream is not None else b""


class NdjsonFileParser(RawFileParser):
    media_type = "application/x-ndjson"


BatchProgressSerializer = inline_serializer(
    "BatchProgress",
    {
        "id": serializers.IntegerField(),
        "department": serializers.CharField(),
        "feed": serializers.CharField(),
        "schema_version": serializers.IntegerField(),
        "status": serializers.CharField(help_text="received/processing/retrying/done/quarantined"),
        "percent": serializers.IntegerField(help_text="已提交行的百分比"),
        "received": serializers.IntegerField(),
        "applied": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "attempts": serializers.IntegerField(),
        "received_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
        "url": serializers.CharField(help_text="查询进度的地址 / where to poll the progress"),
    },
)

_DEPARTMENT_PARAM = OpenApiParameter(
    "department",
    str,
    OpenApiParameter.PATH,
    description="报送部门（须为本客户端所属部门） / the client's own department",
    enum=[d.value for d in FEED_DEPARTMENTS],
)


class _FeedMixin:
    endpoint = Endpoint.FEEDS

    def own_department(self, department: str) -> str:
        if department != self.client.department:
            raise Forbidden(
                "只能向本部门的数据通道报送或查询",
                "a client may only use its own department's feeds",
                code="department_not_allowed",
            )
        return department

    def progress(self, department: str, batch_id: int) -> dict:
        body = sync_selectors.batch_progress(batch_id=batch_id, department=department)
        body["url"] = reverse(
            "sharing:feed_batch", kwargs={"department": department, "batch_id": batch_id}
        )
        return body


class FeedQuery(StrictSerializer):
    filename = TextField(
        max_length=255,
        help_text="文件名，其前缀即数据类别，如 employment_202501.csv / file name; "
        "its prefix names the feed",
    )
    feed = TextField(required=False, max_length=64, help_text="数据类别（省略则取文件名前缀）")
    schema_version = DigitsField(
        required=False,
        min_value=1,
        max_value=99_999,
        help_text="JSON Lines 的格式版本（省略为最新版）",
    )


class FeedBatchesView(_FeedMixin, SharingAPIView):
    """Push one feed file (the body, CSV or JSON Lines); it is processed in the background.
    The same bytes again are the same batch (nothing is done twice). The body may be up to
    ``SHARING_MAX_FEED_BYTES`` (413 ``too_large`` beyond), with or without Idempotency-Key."""

    channel = "api.feeds"
    parser_classes = [RawFileParser, NdjsonFileParser]

    def max_body_bytes(self) -> int:
        return min(settings.SHARING_MAX_FEED_BYTES, settings.SYNC_MAX_BATCH_BYTES)

    def read_body(self, request) -> None:
        # Written to a temporary file in blocks and stored from there: a file of any size up
        # to the limit costs this process one block, not the body.
        body_spool(request, self.max_body_bytes())

    @extend_schema(
        operation_id="feed_batch_create",
        summary="部门报送数据文件 / push a department feed file",
        parameters=[_DEPARTMENT_PARAM, FeedQuery],
        request={media: OpenApiTypes.BINARY for media in FEED_MEDIA_TYPES},
        responses={
            202: BatchProgressSerializer,
            **WRITE_ERROR_RESPONSES,
            422: ERROR_RESPONSES[400],
        },
    )
    def post(self, request, department: str):
        department = self.own_department(department)
        return self.write(request, lambda: self._receive(request, department))

    def _receive(self, request, department: str):
        query = query_validate(
            FeedQuery,
            request,
            {"schema_version": "invalid_schema_version"},
        )
        media, *params = (request.content_type or "").split(";")
        media = media.strip().lower()
        # A declared ``charset`` is the file's encoding (UTF-8 or GBK/GB18030); else detected.
        charset = next(
            (v.strip().strip('"') for k, _, v in (p.partition("=") for p in params)
             if k.strip().lower() == "charset"),
            None,
        )  # fmt: skip
        content = request.data  # parsed (or refused with 415) before the media check below
        if media not in FEED_MEDIA_TYPES:  # also an empty body, which no parser reads
            raise exceptions.UnsupportedMediaType(media)
        batch = sync_services.batch_receive(
            department=department,
            content=(
                content.blocks
                if isinstance(content, SpooledBody)
                else content
                if isinstance(content, bytes)
                else b""
            ),
            filename=query["filename"].strip(),
            fmt=FEED_MEDIA_TYPES[media],
            source=BatchSource.API,
            feed=query.get("feed") or None,
            schema_version=query.get("schema_version"),
            encoding=charset or None,
        )
        return Response(self.progress(department, batch.pk), status=status.HTTP_202_ACCEPTED)


class FeedBatchView(_FeedMixin, SharingAPIView):
    """Progress and counts of one of the department's batches; another's is not found."""

    channel = "api.feeds"

    @extend_schema(
        operation_id="feed_batch_retrieve",
        summary="报送批次进度 / a pushed batch's progress",
        parameters=[
            _DEPARTMENT_PARAM,
            OpenApiParameter("batch_id", int, OpenApiParameter.PATH, description="批次号"),
        ],
        responses={200: BatchProgressSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, department: str, batch_id: str):
        department = self.own_department(department)
        if not batch_id.isascii() or not batch_id.isdigit() or len(batch_id) > 18:
            # the same JSON 404 as an unknown number
            raise NotFound("批次不存在", "no such batch", code="batch_not_found")
        return Response(self.progress(department, int(batch_id)))


# -- statistics: aggregate figures, small counts suppressed ------------------------------------

_COUNT_OR_SUPPRESSED = serializers.CharField(
    help_text='人数；小于阈值时为 "<N" / a count, or "<N" when below the threshold'
)


class UrbanizationQuery(StrictSerializer):
    region = TextField(
        max_length=12,
        validators=[RegexValidator(r"^[0-9]{12}$")],
        help_text="市、县或乡级区划代码（12位）",
    )
    month = TextField(
        max_length=7,
        validators=[RegexValidator(r"^[12][0-9]{3}-(0[1-9]|1[0-2])$")],
        help_text="统计月份 YYYY-MM",
    )


class UrbanizationView(SharingAPIView):
    """Urbanization of one area at one month end, from the stored snapshot (docs/statistics.md).
    An area not wholly inside the client's regions gets the 404 of an unknown one. Counts below
    ``POPBASE_STATS_SMALL_COUNT`` are given as "<N" and the rates on them as null.
    Aggregates only: no person is read, so no access record."""

    endpoint = Endpoint.STATISTICS
    channel = "api.statistics"

    @extend_schema(
        operation_id="statistics_urbanization",
        summary="城镇化率（户籍、常住） / urbanization rates of an area at a month end",
        parameters=[UrbanizationQuery],
        responses={
            200: inline_serializer(
                "Urbanization",
                {
                    "region_code": serializers.CharField(),
                    "region_name": serializers.CharField(),
                    "level": serializers.IntegerField(),
                    "month": serializers.CharField(),
                    "data_date": serializers.DateField(),
                    "source": serializers.CharField(),
                    "counts": serializers.DictField(child=_COUNT_OR_SUPPRESSED),
                    "registered_rate": serializers.FloatField(allow_null=True),
                    "resident_rate": serializers.FloatField(allow_null=True),
                    "gap": serializers.FloatField(allow_null=True),
                    "sex_ratio": serializers.FloatField(allow_null=True),
                    "suppressed": serializers.BooleanField(),
                },
            ),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request):
        params = query_validate(UrbanizationQuery, request, {"month": "bad_month"})
        try:
            figures = stats_selectors.urbanization(
                region_code=params["region"],
                month=params["month"],
                suppress=True,
                within=self.client.region_prefixes,
            )
        except DomainError as exc:
            if exc.code != "month_in_future":
                raise
            # A well-formed month with no figures yet: not found, like a month never counted.
            raise NotFound(exc.message_zh, exc.message_en, code=exc.code) from None
        return Response(figures)
