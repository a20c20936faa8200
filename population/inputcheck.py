"""Strict input for everything popbase reads from outside (API bodies, command input, feed
lines). JSON: no NaN or Infinity, no number out of range, a bounded depth, no control
characters. Dates: exactly YYYY-MM-DD. Echoes of input in messages: bounded and printable.

Refusals are ``InvalidInput`` (a ``DomainError``) with a stable code: ``parse_error``,
``too_deep``, ``non_finite_number``, ``invalid_character`` (with the field's path in ``errors``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re

from population.errors import DomainError

MAX_JSON_DEPTH = 32
# How many items an error message lists before "and N more".
MAX_ECHO = 10
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# C0 controls and DEL: no name, code or number holds one; NUL cannot even be stored.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidInput(DomainError):
    """A refusal that names the fields at fault (``errors``: field → messages)."""

    def __init__(self, message_zh, message_en, *, code, errors=None, http_status=400):
        super().__init__(message_zh, message_en, code=code)
        self.errors = errors
        self.http_status = http_status


def printable(text: str) -> str:
    """Control characters as visible escapes, so an answer that echoes input can be stored."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _non_finite(text: str):
    raise InvalidInput(
        f"不接受非有限数值：{text}",
        f"non-finite numbers are not accepted: {text}",
        code="non_finite_number",
    )


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _non_finite(text[:32])
    return value


def echo(items, limit: int = MAX_ECHO) -> str:
    """A bounded, printable list of what the caller sent (never the whole of a huge input)."""
    items = list(items)
    shown = ", ".join(printable(str(i))[:64] for i in items[:limit])
    return f"{shown} … (+{len(items) - limit})" if len(items) > limit else shown


def strict_date(value) -> dt.date | None:
    """``StrictDateField``'s rule for code that is not a serializer: the date, or None."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def json_loads(data: bytes | str):
    """Strict JSON: no NaN/Infinity, no number out of range, at most ``MAX_JSON_DEPTH`` deep,
    no control character in any key or string (the path of the first one named)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_non_finite, parse_float=_float)
    except RecursionError:
        raise _too_deep() from None
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DomainError):
            raise
        detail = (
            "not UTF-8"
            if isinstance(exc, UnicodeDecodeError)
            else getattr(exc, "msg", None) or str(exc)[:100]
        )
        raise InvalidInput(
            "不是有效的 JSON", f"not valid JSON: {detail}", code="parse_error"
        ) from None
    json_check(value, text=text)
    return value


def _too_deep() -> InvalidInput:
    return InvalidInput(
        f"JSON嵌套超过{MAX_JSON_DEPTH}层",
        f"JSON is nested deeper than {MAX_JSON_DEPTH} levels",
        code="too_deep",
    )


# A JSON text can carry a control character inside a string only as an escape (strict parsing
# refuses \x00-\x1f raw) or as a raw DEL (which JSON allows): without one of these, no string
# of the parsed value holds one.
_CONTROL_ESCAPE = re.compile(r"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bfnrt])|\x7f")


def json_check(value, *, text: str | None = None) -> None:
    """Depth and control characters of a parsed value, iteratively (no recursion to exhaust).

    ``text``, the JSON the value was parsed from, lets the strings go unsearched when it has no
    escape of a control character. The first walk only looks; a fault found is then named by
    the walk that builds paths."""
    strings = text is None or _CONTROL_ESCAPE.search(text) is not None
    if not _json_fault(value, strings=strings):
        return
    _json_fault_name(value)


def _json_fault(value, *, strings: bool) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_JSON_DEPTH:
                return True
            for key, child in item.items():
                if strings and isinstance(key, str) and CONTROL.search(key):
                    return True
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif strings and isinstance(child, str) and CONTROL.search(child):
                    return True
        elif isinstance(item, list):
            if depth >= MAX_JSON_DEPTH:
                return True
            for child in item:
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif strings and isinstance(child, str) and CONTROL.search(child):
                    return True
        elif strings and isinstance(item, str) and CONTROL.search(item):
            return True
    return False


def _json_fault_name(value) -> None:
    stack = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep()
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and CONTROL.search(key):
                    raise invalid_character(f"{path}.{printable(key)}".lstrip("."))
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, str) and CONTROL.search(item):
            raise invalid_character(printable(path) or "body")


def invalid_character(field: str) -> InvalidInput:
    field = field[:200]
    return InvalidInput(
        f"{field}含有控制字符（如NUL）",
        f"{field} contains a control character (such as NUL)",
        code="invalid_character",
        errors={field: ["control characters are not allowed"]},
    )
