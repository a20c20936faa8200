"""What the department API accepts, in one place: body size, JSON, text and typed parameters.

Every refusal here is a ``DomainError`` with a stable code, so it reaches the caller in the one
error shape (``exception_handlers``): 413 ``too_large``, 400 ``parse_error``, ``too_deep``,
``non_finite_number``, ``invalid_character`` (the field named in ``errors``). The parameter
fields below are what the views' input serializers are made of, so the schema drf-spectacular
publishes is the check the view runs.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterator

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.parsers import BaseParser

from population.identity import InvalidCitizenId, parse_citizen_id
from population.inputcheck import (
    _ISO_DATE,
    CONTROL,
    MAX_ECHO,
    MAX_JSON_DEPTH,
    InvalidInput,
    echo,
    json_check,
    json_loads,
    printable,
    strict_date,
)

__all__ = ["MAX_ECHO", "MAX_JSON_DEPTH", "echo", "json_check", "printable", "strict_date"]

_ASCII_DIGITS = re.compile(r"[0-9]+")


# -- body size ---------------------------------------------------------------------------------


def too_large(limit: int) -> InvalidInput:
    return InvalidInput(
        f"请求体超过{limit}字节",
        f"the request body is larger than {limit} bytes",
        code="too_large",
        http_status=413,
    )


def _declared_length(django_request, limit: int) -> int:
    """The body's declared length (``Content-Length``, 0 when missing or not a number), refused
    past ``limit`` bytes before anything is read."""
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large(limit)
    return declared


def body_read(request, limit: int) -> None:
    """Read the body once, refusing it past ``limit`` bytes without reading further.

    The bytes are kept as Django keeps them (``request.body``), so the parsers and the
    ``Idempotency-Key`` fingerprint see the same bytes, under the same limit, whether or not
    the key is sent (Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not apply twice).
    """
    django_request = getattr(request, "_request", request)
    if hasattr(django_request, "_body"):
        return
    declared = _declared_length(django_request, limit)
    body = django_request.read(limit + 1) if declared else b""
    if len(body) > limit:
        raise too_large(limit)
    django_request._body = body
    django_request._stream = io.BytesIO(body)


# A spooled body is read from the request, and back from its file, in blocks of this size.
BODY_BLOCK_BYTES = 1 << 20


class SpooledBody:
    """A request body written to a temporary file as it was read, never held whole.

    ``blocks`` gives it again from the start, as often as needed (``parsing.blocks_of``);
    ``fingerprint`` is the request's ``Idempotency-Key`` fingerprint, hashed as it streamed by.
    """

    def __init__(self, file, size: int, fingerprint: str) -> None:
        self.file = file
        self.size = size
        self.fingerprint = fingerprint

    def blocks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while block := self.file.read(BODY_BLOCK_BYTES):
            yield block

    def close(self) -> None:
        self.file.close()


def body_spool(request, limit: int) -> None:
    """Read the body in blocks into a temporary file, refusing it past ``limit`` bytes as soon
    as the count passes it; the file is the request's ``spooled_body`` (a ``SpooledBody``).

    The process holds one block at a time, whatever the body's size. The parsers are then
    given the spooled body (``RawFileParser``), and the ``Idempotency-Key`` fingerprint is the
    one ``idempotency.fingerprint`` computes from the whole body, hashed block by block.
    """
    # Here, not at the top: logging's formatter imports this module before the apps load.
    from population.sharing import idempotency

    django_request = getattr(request, "_request", request)
    if hasattr(django_request, "_body") or hasattr(django_request, "spooled_body"):
        return
    declared = _declared_length(django_request, limit)
    if not declared:
        body_read(request, limit)
        return
    file = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the request (SpooledBody)
    try:
        digest = idempotency.fingerprint_start(django_request, declared)
        size = 0
        while block := django_request.read(min(BODY_BLOCK_BYTES, limit + 1 - size)):
            size += len(block)
            if size > limit:
                raise too_large(limit)
            digest.update(block)
            file.write(block)
        spooled = SpooledBody(file, size, digest.hexdigest())
        if size != declared:  # a body cut short: the fingerprint of what came
            digest = idempotency.fingerprint_start(django_request, size)
            for block in spooled.blocks():
                digest.update(block)
            spooled.fingerprint = digest.hexdigest()
    except BaseException:
        file.close()
        raise
    file.seek(0)
    django_request.spooled_body = spooled
    # Django reads what is left of the body (anyone asking for ``request.body``) from the
    # file, and DRF hands the request to the parser as a stream not yet read.
    django_request._stream = file
    django_request._read_started = False


def json_body_limit() -> int:
    return settings.SHARING_MAX_JSON_BYTES


class StrictJSONParser(BaseParser):
    """``application/json`` through ``json_loads``."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return json_loads(stream.read() if stream is not None else b"")


# -- parameter fields --------------------------------------------------------------------------


def no_control_characters(value: str) -> None:
    if CONTROL.search(value):
        raise serializers.ValidationError(
            "control characters are not allowed", code="invalid_character"
        )


# The same rules as JSON Schema patterns, published by the extensions at the end.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NON_BLANK_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def not_blank(value: str) -> None:
    if not value.strip():
        raise serializers.ValidationError("This field may not be blank.", code="blank")


class TextField(serializers.CharField):
    """Text as given (not trimmed, so its length is the one the schema states), without
    control characters (DRF's own check covers NUL only) and, unless ``allow_blank``, with at
    least one character that is not a space."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        # First, so a blank or control character is named before any pattern the field has.
        self.validators.insert(0, no_control_characters)
        if not self.allow_blank:
            self.validators.insert(0, not_blank)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # DRF would take 0 or true as text
            self.fail("invalid")
        return super().to_internal_value(data)


class DigitsField(serializers.IntegerField):
    """A whole number written in plain ASCII digits: no sign, space, newline or other script's
    digits ("٣" and "²" pass ``str.isdigit``; "5\\n" passes ``int()``)."""

    def get_value(self, dictionary):
        # Given but empty ("?limit=") is refused, not taken as absent (DRF's form handling).
        if self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            text = str(data)
        elif isinstance(data, str):
            text = data
        else:
            self.fail("invalid")
        if not _ASCII_DIGITS.fullmatch(text) or len(text) > 18:
            self.fail("invalid")
        return super().to_internal_value(int(text))


class StrictDateField(serializers.DateField):
    """A date written exactly YYYY-MM-DD (``date.fromisoformat`` alone also takes 20160601 and
    2016-W22-3)."""

    def to_internal_value(self, value):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail("invalid", format="YYYY-MM-DD")


STRICT_COMPONENTS: set[str] = set()


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know (the schema says
    ``additionalProperties: false``, see ``schema_strict_hook``), so that what it publishes is
    all it takes."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        STRICT_COMPONENTS.add(cls.__name__.removesuffix("Serializer"))

    def validate(self, attrs):
        data = self.initial_data
        if hasattr(data, "keys"):
            extra = sorted(set(data.keys()) - set(self.fields))
            if extra:
                raise serializers.ValidationError(
                    {printable(str(name))[:64]: ["unknown field"] for name in extra[:MAX_ECHO]}
                )
        return super().validate(attrs)


def citizen_id_checked(text: str) -> str:
    """The path's citizen ID, normalised; a malformed number is 400 ``invalid_citizen_id``
    (a well-formed one nobody holds is still the same 404 as one outside the scope)."""
    if len(text) > 32 or CONTROL.search(text):
        raise _invalid_citizen_id("the number is malformed", "号码格式错误")
    try:
        return str(parse_citizen_id(text))
    except InvalidCitizenId as exc:
        raise _invalid_citizen_id(exc.message_en, exc.message_zh) from None


def _invalid_citizen_id(en: str, zh: str) -> InvalidInput:
    return InvalidInput(
        f"公民身份号码无效：{zh}",
        f"invalid citizen ID: {en}",
        code="invalid_citizen_id",
        errors={"citizen_id": [en]},
    )


def query_validate(serializer_class, request, codes: dict[str, str]):
    """The query parameters through ``serializer_class``; a refusal carries the code of the
    first field at fault (``codes``: field → code, else ``invalid_input``) and every field's
    messages."""
    serializer = serializer_class(data=request.query_params)
    if serializer.is_valid():
        return serializer.validated_data
    errors = serializer.errors
    first = next(iter(errors))
    detail = errors[first][0]
    kind = getattr(detail, "code", None)
    if kind in {"required", "blank"}:
        code = "parameter_required"
    elif kind in _CHARACTER_CODES:
        code = "invalid_character"
    else:
        code = codes.get(first, "invalid_input")
    raise InvalidInput(
        f"参数 {first} 无效", f"invalid parameter {first}", code=code, errors=dict(errors)
    )


_CHARACTER_CODES = {
    "invalid_character",
    "null_characters_not_allowed",
    "surrogate_characters_not_allowed",
}


# -- what the fields publish -------------------------------------------------------------------


class TextFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TextField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        # DRF's blank string is published as oneOf [text, maxLength 0]: "" matches both, so
        # one schema with a pattern that says whether "" is allowed.
        schema = schema["oneOf"][0] if "oneOf" in schema else schema
        regex = next(
            (v.regex.pattern for v in self.target.validators if isinstance(v, RegexValidator)),
            None,
        )
        default = TEXT_PATTERN if self.target.allow_blank else NON_BLANK_PATTERN
        schema["pattern"] = regex or default
        return schema


class StrictDateFieldExtension(OpenApiSerializerFieldExtension):
    target_class = StrictDateField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": DATE_PATTERN}


def schema_strict_hook(result, generator, request, public):
    """drf-spectacular post-processing: the request components of ``StrictSerializer``s take
    no other property, as the serializers refuse them; request bodies are required."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name in STRICT_COMPONENTS and component.get("type") == "object":
            component["additionalProperties"] = False
    # Every write here needs its body (none is 400 or 415), so the schema says so.
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result
