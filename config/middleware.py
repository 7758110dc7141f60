"""Request ids, requests refused before a view (too large, chunked, too many parameters),
and the answer when the database is down.

Request ids: every request gets one, its log lines carry it, the response returns it.

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

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import UnreadablePostError
from django.template.response import TemplateResponse
from django.utils.deprecation import MiddlewareMixin

from config.exceptions import ServiceUnavailable, bad_request_detail
from config.logging import log_context
from config.renderers import error_response, is_api_request

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
    """Sync (the web) or async (the stream server, config/asgi.py), so that neither hops
    threads for it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        with log_context(request_id=request_id):
            response = self.get_response(request)
            _log_access(request, response, started)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def __acall__(self, request):
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        started = time.perf_counter()
        with log_context(request_id=request_id):
            response = await self.get_response(request)
            _log_access(request, response, started)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _log_access(request, response, started: float) -> None:
    """The request's access line (a stream's when its answer starts)."""
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


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A request that needed PostgreSQL while it was down (a connection refused or lost)
    gets a 503 with `Retry-After`, not a 500: the API's error body under /api/, a page
    elsewhere. Reads of cached boards need no database and never come here. (Sync or
    async: MiddlewareMixin, which costs an async request nothing until a view raises.)"""

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logging.getLogger(__name__).warning(
            "database unavailable for %s %s: %s", request.method, request.path, exception
        )
        if is_api_request(request):
            response = error_response(request, DATABASE_UNAVAILABLE, 503)
        else:
            response = TemplateResponse(
                request, "503.html", {"message": DATABASE_UNAVAILABLE}, status=503
            ).render()
        response["Retry-After"] = str(ServiceUnavailable.retry_after_seconds)
        return response


class RequestLimitsMiddleware:
    """Requests that would tie up a worker, or that Django cannot read as sent.

    A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (`MAX_REQUEST_BODY_BYTES`) is refused
    with a 413 from its Content-Length, before any of it is read (Django's own check of
    that setting reads up to the limit first, then answers a 400). One that stops arriving
    makes the read time out (gunicorn.conf.py bounds each wait): Django raises
    UnreadablePostError, answered with a 408, as is a body cut off by the client.

    A body sent chunked (Transfer-Encoding, no Content-Length) is refused with a 411:
    under WSGI Django reads a body only as far as its Content-Length, so it would read as
    empty (gunicorn decodes the chunks, runserver does not; a buffering proxy in front
    sends a Content-Length).

    A query string with more parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS is a 400 before
    any view parses it: Django raises TooManyFieldsSent on every read of request.GET, and
    under DEBUG its technical error page reads it again for each middleware it unwinds
    through (seconds, then a 500)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads an unreadable length as no body
        if limit is not None and length > limit:
            return error_response(
                request, f"The request body is {length} bytes; at most {limit} are accepted.", 413
            )
        if (
            not meta.get("CONTENT_LENGTH")
            and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            return error_response(
                request, "Send the body with a Content-Length; chunked bodies are not read.", 411
            )
        fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        if fields is not None and meta.get("QUERY_STRING", "").count("&") >= fields:
            try:
                request.GET  # noqa: B018 (Django's own count, which raises past the limit)
            except TooManyFieldsSent as exc:
                return error_response(request, bad_request_detail(exc), 400)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, UnreadablePostError):
            return None
        logging.getLogger(__name__).warning(
            "request body unreadable (%s): %s %s from %s",
            exception,
            request.method,
            request.path,
            request.META.get("REMOTE_ADDR"),
        )
        response = error_response(
            request, "The request body did not arrive in time; send it again.", 408
        )
        response["Connection"] = "close"
        return response
