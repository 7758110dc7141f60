"""Cross-origin reads of the public API (django-cors-headers), for a promotion site that
shows a board from the browser, and of the streams, for our own pages when the stream
server has an origin of its own (STREAM_PUBLIC_URL).

Off unless `CORS_ALLOWED_ORIGINS` names origins. Even then only reads are shared: GET and
HEAD (and the preflight asking for one of them) of the public read paths
(`CORS_URLS_REGEX`: boards, standings, players, series). Writes, API-key endpoints and the
admin never answer with `Access-Control-Allow-Origin`, and no credentials or
`Authorization` header are allowed, so a page elsewhere can read what anyone may read and
nothing more.

The streams (`…/stream/`, served by the stream server) are also readable, without any
configuration, from a page whose origin's host is one this service answers to
(`DJANGO_ALLOWED_HOSTS`): the board page on the web's origin opening the stream server's.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.http import HttpRequest
from django.http.request import validate_host
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

READ_METHODS = frozenset({"GET", "HEAD"})
STREAM_PATH = re.compile(r"^/api/v1/leaderboards/[^/]+/(players/[^/]+/)?stream/$")


def stream_read_from_our_pages(request: HttpRequest) -> bool:
    """A GET or HEAD of a stream whose Origin is a host of this service's."""
    if request.method not in READ_METHODS or not STREAM_PATH.match(request.path_info):
        return False
    origin = request.headers.get("origin", "")
    try:
        parts = urlsplit(origin)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    return validate_host(host, settings.ALLOWED_HOSTS)


class PublicReadCorsMiddleware(CorsMiddleware):
    """django-cors-headers' middleware, enabled only for reads and only when configured;
    and our own pages' reads of the streams."""

    def is_enabled(self, request: HttpRequest) -> bool:
        if not settings.CORS_ALLOWED_ORIGINS:
            return False
        method = request.method or ""
        if method == "OPTIONS":  # a preflight: judge the request it announces
            method = request.headers.get("access-control-request-method", "").upper()
        return method in READ_METHODS and super().is_enabled(request)

    def add_response_headers(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if stream_read_from_our_pages(request):
            patch_vary_headers(response, ("origin",))
            response["Access-Control-Allow-Origin"] = request.headers["origin"]
            return response
        return super().add_response_headers(request, response)
