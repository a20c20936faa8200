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
    """The whole text and its encoding, for small files and tests (the pipeline streams)."""
    _head, encoding, _blank = detect_encoding(content)
    codec = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "gbk": "gb18030"}[encoding]
    return content.decode(codec, errors="replace"), encoding


# -- streaming: physical lines of bounded length, decoded one by one -------------------------

# A data line longer than this is a rejected row (``line_too_long``); it is skipped without
# being held. The widest feed row is well under 4 KB (docs/feeds.md).
MAX_LINE_BYTES = 128 * 1024
# The part of a rejected line kept as its raw text.
MAX_RAW_CHARS = 1000
_BLOCK = 1 << 20
_EOL = re.compile(rb"\r\n|\r|\n")
# Encodings a department may declare, and the codec each is read with.
ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "gbk": "gb18030"}
_DECLARED = {
    "utf-8-sig": "utf-8",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gbk",
    "cp936": "gbk",
}


@dataclass(frozen=True)
class Line:
    """One physical line: its number, its bytes without the line end (only the first
    ``MAX_LINE_BYTES`` when it is longer) and its full length in bytes."""

    no: int
    data: bytes
    size: int


def blocks_of(content) -> Iterator[bytes]:
    """The file in blocks: ``content`` is bytes, or a function returning an iterator of blocks
    (the stored file read piece by piece), so the file can be read more than once."""
    if callable(content):
        yield from content()
        return
    view = memoryview(content)
    for offset in range(0, len(view), _BLOCK):
        yield bytes(view[offset : offset + _BLOCK])


def iter_lines(content, *, limit: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Physical lines (ended by CR LF, LF or CR alone) read block by block.

    A line longer than ``limit`` bytes is given with its first ``limit`` bytes and its size;
    the rest is skipped as it streams by, never held. CR and LF never occur inside a UTF-8 or
    GB18030 character, so splitting the bytes is splitting the text.
    """
    no = 0
    held = b""  # the current line's first bytes (at most ``limit``)
    size = 0  # the current line's length so far
    skip_lf = False  # the previous block ended with CR: a LF starting this one ends nothing
    for block in blocks_of(content):
        pos = 1 if skip_lf and block.startswith(b"\n") else 0
        skip_lf = False
        for match in _EOL.finditer(block, pos):
            data = block[pos : match.start()]
            no += 1
            yield Line(no, held + data[: limit - len(held)], size + len(data))
            held, size = b"", 0
            pos = match.end()
            skip_lf = match.group() == b"\r" and pos == len(block)
        rest = len(block) - pos
        if rest:
            if len(held) < limit:
                held += block[pos : pos + limit - len(held)]
            size += rest
    if size:
        yield Line(no + 1, held, size)


# A file is read in the first encoding in which at most this share of its lines (and its
# header) fail to decode; those lines are rejected rows. Beyond it the file is refused whole.
UNDECODABLE_SHARE = 0.05
# NUL bytes beyond this share: UTF-16 without a byte-order mark, or not text at all.
NUL_SHARE = 0.05
_SAMPLE_BYTES = 1 << 20
# GB 2312 hanzi (rows 16-87) and punctuation, full-width forms (rows 1-3), as GB 2312 bytes.
_GB2312_COMMON = re.compile(rb"[\xb0-\xf7][\xa1-\xfe]|[\xa1-\xa3][\xa1-\xfe]")


def encoding_suspect(zh: str, en: str) -> DomainError:
    return DomainError(
        f"文件编码可疑（{zh}），已整体拒收，未写入任何数据；请以UTF-8或GBK重新导出",
        f"suspect encoding ({en}): the file is refused whole and nothing is written; "
        "export it again as UTF-8 or GBK",
        code="encoding_suspect",
    )


def _declared(declared: str) -> str:
    encoding = _DECLARED.get(declared.strip().lower().replace("_", "-"))
    if encoding is None:
        raise DomainError(
            f"不支持的编码：{declared[:40]}，应为UTF-8或GBK（GB18030）",
            f"unsupported encoding {declared[:40]!r}: expected UTF-8 or GBK (GB18030)",
            code="unsupported_encoding",
        )
    return encoding


@dataclass
class _Scan:
    encoding: str
    lines: int = 0
    bad: int = 0
    first_bad: int = 0
    header_bad: bool = False


def _scan(content, encoding: str) -> _Scan:
    """Count the lines of the file that do not decode in ``encoding`` (one pass, streamed)."""
    codec = ENCODINGS[encoding]
    scan = _Scan(encoding)
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    try:  # the common case, at the codec's speed: the whole file decodes
        for block in blocks_of(content):
            decoder.decode(block)
        decoder.decode(b"", final=True)
        scan.lines = -1  # not counted: none is bad
        return scan
    except UnicodeDecodeError:
        pass
    for line in iter_lines(content):
        scan.lines += 1
        try:
            line.data.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start >= len(line.data) - 4 and line.size > len(line.data):
                continue  # cut inside a character at the length bound: rejected as too long
            scan.bad += 1
            scan.first_bad = scan.first_bad or line.no
            scan.header_bad = scan.header_bad or line.no == 1
    return scan


def detect_encoding(content, declared: str | None = None) -> tuple[str, str, bool]:
    """(the first line's text, the encoding, blank) of a delivered file, read in blocks.

    ``content`` is bytes or a function giving the file's blocks (see ``blocks_of``). The
    encoding is the declared one (UTF-8 or GBK/GB18030), else UTF-8 (with or without BOM),
    else GBK. Refused whole with ``encoding_suspect``: a UTF-16/32 byte-order mark, NUL bytes
    beyond ``NUL_SHARE`` (UTF-16 without a mark, a binary or compressed file), a header that
    does not decode or more than ``UNDECODABLE_SHARE`` of the lines that do not decode (the
    file would decode only with replacement characters), or a file read as GBK whose
    characters are mostly not Chinese (Big5 or Shift-JIS bytes). A few undecodable lines are
    rejected rows of the batch (``undecodable``).
    """
    first = next(blocks_of(content), b"")
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise encoding_suspect("UTF-16或UTF-32字节序标记", "a UTF-16 or UTF-32 byte-order mark")
    size = nul = 0
    blank = True
    for block in blocks_of(content):
        size += len(block)
        nul += block.count(b"\x00")
        blank = blank and not block.replace(codecs.BOM_UTF8, b"").strip()
    if nul > 8 and nul > NUL_SHARE * size:
        raise encoding_suspect(
            f"{nul}个NUL字节：UTF-16、二进制或压缩文件",
            f"{nul} NUL bytes: UTF-16, a binary or a compressed file",
        )
    bom = first.startswith(codecs.BOM_UTF8)
    if declared:
        wanted = _declared(declared)
        if bom and wanted != "utf-8":
            raise encoding_suspect(
                f"声明为{declared[:40]}，但文件以UTF-8字节序标记开头",
                f"declared {declared[:40]} but the file starts with a UTF-8 byte-order mark",
            )
        candidates = ["utf-8-sig" if bom else wanted]
    else:
        candidates = ["utf-8-sig"] if bom else ["utf-8", "gbk"]
    scans = []
    for encoding in candidates:
        scan = _scan(content, encoding)
        scans.append(scan)
        if scan.bad == 0:
            break
    scan = min(scans, key=lambda s: s.bad)  # the first of the fewest
    if scan.bad and (scan.header_bad or scan.bad > UNDECODABLE_SHARE * scan.lines):
        raise encoding_suspect(
            f"{scan.bad}/{scan.lines}行无法按{'或'.join(candidates)}解码，首个在第{scan.first_bad}行",
            f"{scan.bad} of {scan.lines} lines do not decode as {' or '.join(candidates)}, "
            f"the first at line {scan.first_bad}",
        )
    codec = ENCODINGS[scan.encoding]
    sample = b"".join(_first_bytes(content, _SAMPLE_BYTES))
    text = sample.decode(codec, errors="replace")
    if scan.encoding == "utf-8-sig":
        text = text.removeprefix("\ufeff")
    if scan.encoding == "gbk":
        _gbk_plausible(text)
    head = _LINE_END.split(text, maxsplit=1)[0]
    return head, scan.encoding, blank


def _first_bytes(content, limit: int) -> Iterator[bytes]:
    taken = 0
    for block in blocks_of(content):
        yield block[: limit - taken]
        taken += len(block)
        if taken >= limit:
            return


def _gbk_plausible(text: str) -> None:
    """Refuse text read as GBK whose non-ASCII characters are mostly not GB 2312 hanzi or
    punctuation: Big5 and Shift-JIS bytes also decode as GBK, into rare characters, kana,
    Greek, box drawing and private-use ones. (A GBK file mostly in traditional characters looks
    the same, and is refused too: it can be sent as UTF-8.)"""
    wide = len(text) - len(text.encode("ascii", errors="ignore"))
    if wide < 4:
        return
    _, plausible = _GB2312_COMMON.subn(b"", text.encode("gb2312", errors="replace"))
    if (wide - plausible) * 2 > wide:
        raise encoding_suspect(
            f"按GBK读出的{wide}个字符中{wide - plausible}个不是常用汉字，像是Big5或Shift-JIS编码",
            f"{wide - plausible} of the {wide} characters read as GBK are not common Chinese: "
            "it looks like Big5 or Shift-JIS",
        )


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
    content, encoding: str, fmt: str, columns: tuple[Column, ...], *, checked: bool = True
) -> Iterator[tuple[int, object]]:
    """(line_no, staging values) for good rows and (line_no, Rejection) for bad ones.

    ``content`` is the file (bytes, or a function giving its blocks: see ``blocks_of``), read
    line by line in bounded memory: a line is one row (a CSV quote cannot span lines). A line
    longer than ``MAX_LINE_BYTES``, one that does not decode, one with a NUL character, an
    unclosed quote or JSON nested in a value is a rejected row; the others go on.
    With ``checked=False`` only the structure is checked and good rows come as their raw
    values (None for an empty CSV field), for the set-based checks in SQL.
    """
    convert = row_converter(columns) if checked else None
    parse = _csv_values if fmt == "csv" else _jsonl_values(columns)
    for line_no, text in iter_text_lines(content, encoding, skip_header=fmt == "csv"):
        if isinstance(text, Rejection):
            yield line_no, text
            continue
        try:
            values = parse(text, len(columns))
            if any("\x00" in v for v in values):  # raw, or escaped in JSON: text cannot hold it
                raise RowError("invalid_character", "含有NUL字符", "contains a NUL character")
            yield line_no, convert(values) if convert else values
        except RowError as exc:
            yield line_no, Rejection(line_no, exc.code, exc.reason, _raw(text))


def line_too_long(line_no: int, size: int, text: str) -> Rejection:
    """The rejection of a line over ``MAX_LINE_BYTES`` (``text``: its beginning)."""
    return Rejection(
        line_no,
        "line_too_long",
        f"该行长{size}字节，超过{MAX_LINE_BYTES}字节上限 / "
        f"the line is {size} bytes, over the limit of {MAX_LINE_BYTES}",
        _raw(text),
    )


def _raw(text: str) -> str:
    """A rejected line as kept: its first ``MAX_RAW_CHARS`` characters, a NUL shown as ␀."""
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + "…"
    return text.replace("\x00", "\u2400")


def iter_text_lines(
    content, encoding: str, *, skip_header: bool
) -> Iterator[tuple[int, str | Rejection]]:
    """The file's non-blank lines as text, or a rejection for a line too long or undecodable."""
    codec = ENCODINGS[encoding]
    for line in iter_lines(content):
        data = line.data
        if line.no == 1:
            if encoding == "utf-8-sig":
                data = data.removeprefix(codecs.BOM_UTF8)
            if skip_header:
                continue
        if line.size > MAX_LINE_BYTES:
            text = data[: MAX_RAW_CHARS * 4].decode(codec, errors="replace")
            yield line.no, line_too_long(line.no, line.size, text)
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            yield (
                line.no,
                Rejection(
                    line.no,
                    "undecodable",
                    f"第{exc.start + 1}字节起无法按{encoding}解码 / "
                    f"bytes from {exc.start + 1} do not decode as {encoding}",
                    _raw(data.decode(codec, errors="replace")),
                ),
            )
            continue
        if text.strip():
            yield line.no, text


def _csv_values(text: str, width: int) -> list:
    try:
        values = next(csv.reader([text], strict=True))
    except csv.Error:
        if text.count('"') % 2:
            raise RowError(
                "unclosed_quote",
                "引号未闭合（引号不能跨行）",
                "a quote is not closed (a quoted value cannot span lines)",
            ) from None
        raise RowError("invalid_csv", "不是合法的CSV行", "not a valid CSV line") from None
    if len(values) != width:
        raise RowError(
            "wrong_column_count",
            f"列数应为{width}，实际为{len(values)}",
            f"expected {width} columns, got {len(values)}",
        )
    return values


def _jsonl_values(columns: tuple[Column, ...]):
    names = [c.name for c in columns]
    known = set(names)
    required = {c.name for c in columns if c.required}

    def values(text: str, _width: int) -> list:
        try:
            obj = json.loads(text)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as exc:
            raise RowError("invalid_json", "不是合法的JSON", f"not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise RowError("invalid_json", "每行应为一个JSON对象", "each line must be an object")
        unknown = set(obj) - known
        missing = required - set(obj)
        if unknown or missing:
            raise RowError(
                "wrong_column_count",
                f"字段不符：缺少{sorted(missing)[:10]}，多出{sorted(unknown)[:10]}",
                f"fields do not match: missing {sorted(missing)[:10]}, "
                f"unknown {sorted(unknown)[:10]}",
            )
        if any(isinstance(v, dict | list) for v in obj.values()):
            raise _too_deep()
        return [_json_text(obj.get(n)) for n in names]

    return values


def _too_deep() -> RowError:
    return RowError(
        "too_deep",
        "字段值应为字符串或数字，不能嵌套对象或数组",
        "a value must be a string or a number, not a nested object or array",
    )


def raw_csv(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()


def _json_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
