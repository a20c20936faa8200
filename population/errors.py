"""Domain errors with a stable code and a message in Chinese and English."""

from __future__ import annotations

import datetime as dt

from population.clock import today
from population.identity import CitizenId, InvalidCitizenId, parse_citizen_id


class DomainError(Exception):
    """Base of every refused action; ``code`` is stable, the message bilingual."""

    code = "domain_error"

    def __init__(self, message_zh: str, message_en: str, *, code: str | None = None) -> None:
        self.message_zh = message_zh
        self.message_en = message_en
        if code:
            self.code = code
        super().__init__(f"{message_zh} / {message_en}")


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


def require(condition: bool, message_zh: str, message_en: str, code: str) -> None:
    """Refuse with a ``DomainError`` unless ``condition`` holds (every service's guard)."""
    if not condition:
        raise DomainError(message_zh, message_en, code=code)


def check_date(on: dt.date, *, not_before: dt.date | None = None) -> None:
    """An effective date: not in the future, and not before the record it follows."""
    require(
        on <= today(),
        "日期不能晚于今天",
        "the date cannot be in the future",
        "future_date",
    )
    if not_before is not None:
        require(
            on >= not_before,
            "日期早于已有记录",
            "the date is before an earlier record",
            "date_order",
        )


def require_citizen_id(text: str) -> CitizenId:
    """The parsed citizen ID, or refuse with a ``DomainError`` (``invalid_citizen_id``) that
    says which part is wrong, in both languages (every service taking a typed number)."""
    try:
        return parse_citizen_id(text)
    except InvalidCitizenId as exc:
        raise DomainError(exc.message_zh, exc.message_en, code="invalid_citizen_id") from exc
