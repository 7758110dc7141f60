"""Cross-origin reads of the public API (django-cors-headers), for a promotion site that
shows a board from the browser.

Off unless `CORS_ALLOWED_ORIGINS` names origins. Even then only reads are shared: GET and
HEAD (and the preflight asking for one of them) of the public read paths
(`CORS_URLS_REGEX`: boards, standings, players, series). Writes, API-key endpoints and the
admin never answer with `Access-Control-Allow-Origin`, and no credentials or
`Authorization` header are allowed, so a page elsewhere can read what anyone may read and
nothing more.
"""

from __future__ import annotations

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.http import HttpRequest

READ_METHODS = frozenset({"GET", "HEAD"})


class PublicReadCorsMiddleware(CorsMiddleware):
    """django-cors-headers' middleware, enabled only for reads and only when configured."""

    def is_enabled(self, request: HttpRequest) -> bool:
        if not settings.CORS_ALLOWED_ORIGINS:
            return False
        method = request.method or ""
        if method == "OPTIONS":  # a preflight: judge the request it announces
            method = request.headers.get("access-control-request-method", "").upper()
        return method in READ_METHODS and super().is_enabled(request)
