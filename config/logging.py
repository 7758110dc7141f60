"""Logging: context fields (a request id, a consumer batch id) and the two log formats.

`log_context(batch_id=...)` sets fields for the code inside it, through a context variable,
so threads and requests never see each other's; `ContextFilter`, attached to the handler,
copies them onto each record, where the formatters print them: `PlainFormatter` as
`[batch_id=...]` under `make run`, `JsonFormatter` as top-level keys in production.
`LOG_FORMAT` (settings) chooses between the two.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.msgspec import MsgspecFormatter

# None until a log_context() block sets a dict; the dicts are never mutated, only replaced.
_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "log_context", default=None
)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current context's fields on every record passing through.

    Attach it to handlers, not loggers: a logger's filters never see records that
    propagate up from its children."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get() or {}
        for key, value in context.items():
            setattr(record, key, value)
        # Which attributes came from the context, for the plain formatter. The leading
        # underscore keeps it out of the JSON output.
        record._context_keys = tuple(context)
        return True


def _iso_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PlainFormatter(logging.Formatter):
    """One readable line: `time LEVEL logger [request_id=...] message`."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs) -> None:
        fmt = fmt or "%(asctime)s %(levelname)s %(name)s%(_context_text)s %(message)s"
        super().__init__(fmt, datefmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        keys = getattr(record, "_context_keys", ())
        record._context_text = "".join(f" [{key}={getattr(record, key, '')}]" for key in keys)
        return super().format(record)


class JsonFormatter(MsgspecFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the context
    fields, any `extra=` fields, and `exc_info` for exceptions. Encoded by msgspec (the
    library's own msgspec formatter), cheaper per line than the standard library's json
    (docs/benchmarks.md)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        # Django puts the request object (or, under runserver, its socket) on some records:
        # its repr says nothing the message does not.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "server_time"])
        super().__init__(*(args or ["%(asctime)s %(levelname)s %(name)s %(message)s"]), **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_time(record)


def logging_settings(*, log_format: str, log_level: str) -> dict:
    """Django's LOGGING (config/settings/base.py): one console handler in `log_format` (plain or
    json), every line carrying the fields of this module's context."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logging.ContextFilter"}},
        "formatters": {
            "plain": {"()": "config.logging.PlainFormatter"},
            "json": {"()": "config.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": log_level},
        "loggers": {
            # Django's own handlers (a DEBUG-only console, mail to admins) are replaced by ours,
            # so its records come out once, in the same format as the rest.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            # runserver's request lines: config.access logs every request, with its id.
            "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
            "django.db.backends": {"level": "WARNING"},
        },
    }
