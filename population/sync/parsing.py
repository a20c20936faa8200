"""Decoding and row-level (Python) validation of a feed file.

Each data row becomes either a staging tuple (typed values as COPY text) or a rejection with its
physical line number and a reason in Chinese and English. Set-based checks (unknown persons,
duplicates inside the batch) run later in SQL over the staged rows (``pipeline``).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from population.errors import DomainError
from population.identity import InvalidCitizenId, parse_citizen_id
from population.sync.feeds import (
    CITIZEN_ID,
    DATE,
    DECIMAL,
    INT,
    REGION,
    TYPED_FIELDS,
    Column,
    Feed,
)

# Order of the staging columns after line_no (see pipeline.STAGE_COLUMNS).
_FIELD_INDEX = {name: i for i, name in enumerate(TYPED_FIELDS)}
_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_REGION = re.compile(r"[0-9]{12}")
_LINE_END = re.compile(r"\r\n|\r|\n")
# GB 11643 weights and check characters, for the per-row fast path (identity.check_digit is
# the reference; this is the same sum without a generator per row).
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"


def _fast_check_digit(first17: str) -> str:
    return _CHECK[sum(map(operator.mul, map(int, first17), _WEIGHTS)) % 11]


_TODAY = timezone.localdate  # the project's calendar date, as the SQL checks use

_MAX_TEXT = {"record_no": 64, "name": 50, "org": 200}
MAX_DETAIL_TEXT = 200


@dataclass(frozen=True)
class Rejection:
    line_no: int
    code: str
    reason: str
    raw: str


def decode(content: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 with or without BOM, else GBK (GB18030 superset)."""
    if content.startswith(codecs.BOM_UTF8):
        return content[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("gb18030"), "gbk"
    except UnicodeDecodeError as exc:
        raise DomainError(
            f"无法识别文件编码（第{exc.start}字节）：应为UTF-8或GBK",
            f"cannot decode the file at byte {exc.start}: expected UTF-8 or GBK",
            code="undecodable",
        ) from None


_BLOCK = 1 << 20


def decode_head(content: bytes) -> tuple[str, str, bool]:
    """``decode`` without holding the text: (the first block of text, encoding, blank).

    The file is decoded block by block to prove it is UTF-8 (with or without BOM) or GBK, as
    ``decode`` would; only the first block's text is kept (for the CSV header) and whether the
    whole text is whitespace. A worker receiving a large file thus holds its bytes once.
    """
    view = memoryview(content)
    if content.startswith(codecs.BOM_UTF8):
        candidates = (("utf-8", "utf-8-sig", len(codecs.BOM_UTF8)),)
    else:
        candidates = (("utf-8", "utf-8", 0), ("gb18030", "gbk", 0))
    for codec, encoding, start in candidates:
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        head, blank = None, True
        try:
            for offset in range(start, len(content), _BLOCK):
                piece = decoder.decode(view[offset : offset + _BLOCK])
                head = piece if head is None else head
                blank = blank and not piece.strip()
            piece = decoder.decode(b"", final=True)
            blank = blank and not piece.strip()
        except UnicodeDecodeError as exc:
            if encoding == "utf-8":
                continue
            if encoding == "gbk":
                decode(content)  # raises the error naming the exact byte
            position = offset + exc.start
            raise DomainError(
                f"无法识别文件编码（第{position}字节）：应为UTF-8或GBK",
                f"cannot decode the file at byte {position}: expected UTF-8 or GBK",
                code="undecodable",
            ) from None
        return head or "", encoding, blank
    raise AssertionError("unreachable")  # pragma: no cover


def csv_header_version(text: str, feed: Feed) -> int:
    # The first physical line, whatever ends it: CR LF, LF, or CR alone (old Mac exports).
    first = _LINE_END.split(text, maxsplit=1)[0]
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        header = []
    version = feed.version_of_header([h.strip() for h in header])
    if version is None:
        expected = " | ".join(
            f"v{v}: {','.join(c.name for c in cols)}" for v, cols in feed.versions.items()
        )
        raise DomainError(
            f"表头与{feed.kind}任何版本都不符，应为 {expected}",
            f"the header matches no version of feed {feed.kind}; expected {expected}",
            code="unknown_header",
        )
    return version


class RowError(Exception):
    def __init__(self, code: str, zh: str, en: str) -> None:
        self.code = code
        self.reason = f"{zh} / {en}"
        super().__init__(self.reason)


def _citizen_id(value: str, column: Column) -> str:
    value = value.strip().upper()
    # Fast path for the common well-formed number; anything else gets the precise reason.
    if len(value) == 18 and _ID18.fullmatch(value) and _fast_check_digit(value[:17]) == value[17]:
        try:
            born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
        except ValueError:
            born = None
        if born is not None and born <= _TODAY():
            return value
    try:
        return str(parse_citizen_id(value))
    except InvalidCitizenId as exc:
        raise RowError(
            f"citizen_id_{exc.part}",
            f"{column.name}：{exc.message_zh}",
            f"{column.name}: {exc.message_en}",
        ) from None


def _date(value: str, column: Column) -> str:
    if len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise RowError(
        "invalid_date",
        f"{column.name}日期格式错误：“{value[:20]}”，应为YYYY-MM-DD",
        f"{column.name} is not a date in YYYY-MM-DD: {value[:20]!r}",
    )


def _int(value: str, column: Column) -> str:
    if value.isdigit() and len(value) <= 9:
        return str(int(value))
    raise RowError(
        "invalid_number",
        f"{column.name}应为非负整数：“{value[:20]}”",
        f"{column.name} must be a non-negative integer: {value[:20]!r}",
    )


def _decimal(value: str, column: Column) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or number >= Decimal("1e12"):
        raise RowError(
            "invalid_number",
            f"{column.name}应为非负数：“{value[:20]}”",
            f"{column.name} must be a non-negative number: {value[:20]!r}",
        )
    return str(number.quantize(Decimal("0.01")))


def _region(value: str, column: Column) -> str:
    if _REGION.fullmatch(value):
        return value
    raise RowError(
        "invalid_region",
        f"{column.name}应为12位区划代码：“{value[:20]}”",
        f"{column.name} must be a 12-digit division code: {value[:20]!r}",
    )


_PARSERS = {CITIZEN_ID: _citizen_id, DATE: _date, INT: _int, DECIMAL: _decimal, REGION: _region}


def row_converter(columns: tuple[Column, ...], *, today: dt.date | None = None):
    """A function from a row's values to typed staging values (COPY text or None) in
    TYPED_FIELDS order plus the detail JSON; it raises ``RowError`` for a bad row.

    The per-column decisions are taken once per batch, not once per row.
    """
    today_text = (today or timezone.localdate()).isoformat()
    plan = [
        (
            column,
            _PARSERS.get(column.type),
            None if column.field == "detail" else _FIELD_INDEX[column.field],
            _MAX_TEXT.get(column.field, MAX_DETAIL_TEXT),
        )
        for column in columns
    ]
    width = len(TYPED_FIELDS) + 1
    i_from, i_to = _FIELD_INDEX["valid_from"], _FIELD_INDEX["valid_to"]
    i_event, i_id = _FIELD_INDEX["event_date"], _FIELD_INDEX["citizen_id"]
    i_counterpart = _FIELD_INDEX["counterpart_citizen_id"]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def convert(values: list[str]) -> list:
        out: list = [None] * width
        detail: dict[str, str] = {}
        for (column, parser, index, limit), value in zip(plan, values, strict=True):
            value = value.strip() if value is not None else ""
            if not value:
                if column.required:
                    raise RowError(
                        "missing_value", f"{column.name}不能为空", f"{column.name} is required"
                    )
                continue
            if parser is not None:
                value = parser(value, column)
            if len(value) > limit:
                raise RowError(
                    "too_long",
                    f"{column.name}超过{limit}个字符",
                    f"{column.name} is longer than {limit} characters",
                )
            if index is None:
                detail[column.name] = value
            else:
                out[index] = value
        if out[i_from] and out[i_to] and out[i_to] < out[i_from]:  # ISO dates compare as text
            raise RowError(
                "validity_reversed",
                "有效期止早于有效期起",
                "the end of validity precedes its start",
            )
        if out[i_event] and out[i_event] > today_text:
            raise RowError("date_in_future", "事件日期晚于今天", "the event date is in the future")
        if out[i_counterpart] and out[i_counterpart] == out[i_id]:
            raise RowError(
                "self_reference", "关联人与本人身份号码相同", "the counterpart is the person itself"
            )
        out[-1] = dumps(detail)
        return out

    return convert


def row_values(values: list[str], columns: tuple[Column, ...]) -> list:
    """One row's staging values (see ``row_converter``)."""
    return row_converter(columns)(values)


def iter_rows(
    text: str, fmt: str, columns: tuple[Column, ...], *, checked: bool = True
) -> Iterator[tuple[int, object]]:
    """(line_no, staging values) for good rows and (line_no, Rejection) for bad ones.

    With ``checked=False`` only the structure is checked (column count, JSON, NUL characters)
    and good rows come as their raw values, for the set-based checks in SQL.
    """
    convert = row_converter(columns) if checked else None
    if "\x00" in text:  # PostgreSQL text cannot hold NUL: such rows are rejected here
        convert = _refuse_nul(convert)
    if fmt == "csv":
        yield from _iter_csv(text, columns, convert)
    else:
        yield from _iter_jsonl(text, columns, convert)


def _refuse_nul(convert):
    def check(values: list[str]):
        if any("\x00" in v for v in values):
            raise RowError("invalid_character", "含有NUL字符", "contains a NUL character")
        return convert(values) if convert else values

    return check


def _iter_csv(text: str, columns: tuple[Column, ...], convert) -> Iterator[tuple[int, object]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)  # header, checked when the batch was received
    width = len(columns)
    start = reader.line_num + 1
    for values in reader:
        line_no, start = start, reader.line_num + 1
        if not values:
            continue  # a blank line
        if len(values) != width:
            yield (
                line_no,
                Rejection(
                    line_no,
                    "wrong_column_count",
                    f"列数应为{width}，实际为{len(values)} / "
                    f"expected {width} columns, got {len(values)}",
                    raw_csv(values),
                ),
            )
            continue
        if convert is None:
            yield line_no, values
            continue
        try:
            yield line_no, convert(values)
        except RowError as exc:
            yield line_no, Rejection(line_no, exc.code, exc.reason, raw_csv(values))


def raw_csv(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _iter_jsonl(text: str, columns: tuple[Column, ...], convert) -> Iterator[tuple[int, object]]:
    names = [c.name for c in columns]
    known = set(names)
    required = {c.name for c in columns if c.required}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield (
                line_no,
                Rejection(
                    line_no, "invalid_json", f"不是合法的JSON / not valid JSON: {exc.msg}", line
                ),
            )
            continue
        if not isinstance(obj, dict):
            yield (
                line_no,
                Rejection(
                    line_no,
                    "invalid_json",
                    "每行应为一个JSON对象 / each line must be an object",
                    line,
                ),
            )
            continue
        unknown = set(obj) - known
        missing = required - set(obj)
        if unknown or missing:
            yield (
                line_no,
                Rejection(
                    line_no,
                    "wrong_column_count",
                    f"字段不符：缺少{sorted(missing)}，多出{sorted(unknown)} / "
                    f"fields do not match: missing {sorted(missing)}, unknown {sorted(unknown)}",
                    line,
                ),
            )
            continue
        values = [_json_text(obj.get(n)) for n in names]
        if convert is None:
            yield line_no, values
            continue
        try:
            yield line_no, convert(values)
        except RowError as exc:
            yield line_no, Rejection(line_no, exc.code, exc.reason, line)


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
