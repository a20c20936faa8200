"""Logs for journald: one line per record, JSON or text (``LOG_FORMAT``), each with the request id.

The request id is the department API's ``X-Request-ID`` (``request_id_of``: the caller's when
well-formed, else a new one), now given to every request and echoed on every answer. Citizen IDs
are masked in the whole formatted line, tracebacks included, not only in the message.
"""

from __future__ import annotations

import contextvars
import logging
import time

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from population.logging import mask_citizen_ids_in_text
from population.sharing.api.exception_handlers import REQUEST_ID_HEADER, request_id_of

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_logger = logging.getLogger("popbase.request")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter; the finished line is masked (exceptions too)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_citizen_ids_in_text(super().format(record))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_citizen_ids_in_text(super().format(record))


class RequestIdMiddleware:
    """Gives every request its id (the API's rule), answers with it, and logs one access line
    (method, path without the query string, status, milliseconds): a query string can hold a
    searched name or number, so it is never logged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request_id.set(request_id_of(request))
        started = time.monotonic()
        try:
            response = self.get_response(request)
            if REQUEST_ID_HEADER not in response:
                response[REQUEST_ID_HEADER] = request.request_id
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": mask_citizen_ids_in_text(request.path),
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request_id.reset(token)
