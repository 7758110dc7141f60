"""Request ids: every request gets one, its log lines carry it, the response returns it.

A client's (or load balancer's) `X-Request-ID` is kept when it is sane, so one id follows a
request through the proxies in front of us; otherwise we make one. Each request also ends
with one access log line (method, path, status, duration), which the process's own access
log cannot give: that one knows no request id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from config.logging import log_context

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Probes and scrapes arrive every few seconds; their lines would drown the rest at INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

access_logger = logging.getLogger("config.access")


def request_id_for(incoming: str | None) -> str:
    """The caller's id when it is sane (at most 128 of [A-Za-z0-9._-]), else a new one."""
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        with log_context(request_id=request_id):
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            access_logger.log(
                logging.DEBUG if request.path in QUIET_PATHS else logging.INFO,
                "%s %s %s %.1fms",
                request.method,
                request.get_full_path(),
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
        response[REQUEST_ID_HEADER] = request_id
        return response
