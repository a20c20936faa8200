"""Domain errors with a stable code and a message in Chinese and English."""

from __future__ import annotations


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
