"""Logging context: fields (a request id, a consumer batch id) that every log line carries.

`log_context(batch_id=...)` sets fields for the code inside it, through a context variable,
so threads and requests never see each other's; `ContextFilter` copies them onto each
record, where the formatters (plain under `make run`, JSON in production) print them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

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


def current_context() -> dict[str, object]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Puts the current context's fields on every record passing through."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            setattr(record, key, value)
        return True
