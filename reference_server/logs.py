"""Structured JSON logs: one line per record; request id, session id and trace id on every
line written while they are known (a session's lines carry the trace of its POST /sessions)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from aiohttp.http_exceptions import HttpProcessingError

from reference_server.tracing import current_trace_id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
session_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "session_id", default=None
)

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_RESERVED = set(vars(logging.makeLogRecord({})))
_SERVER_ERROR = 500


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object (extra fields included)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        session_id = session_id_var.get()
        if session_id:
            entry["session_id"] = session_id
        trace_id = current_trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ClientGarbageFilter(logging.Filter):
    """aiohttp logs a request its parser refuses (a NUL byte in a header, a bad request
    line) at error level with a traceback, after answering it 400: a client's garbage, not
    a server fault. Such a record becomes one info line naming the status sent and why."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code < _SERVER_ERROR:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = "request refused by the HTTP parser", None
            record.status = exc.code
            record.reason = " ".join(str(exc.message).split())[:200]
            record.exc_info = record.exc_text = None
            return logging.getLogger().isEnabledFor(logging.INFO)
        return True


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON at ``level`` (LOG_LEVEL)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    filter_client_garbage()


def filter_client_garbage() -> None:
    """Install :class:`ClientGarbageFilter` on aiohttp's server logger (once)."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientGarbageFilter) for f in server.filters):
        server.addFilter(ClientGarbageFilter())
