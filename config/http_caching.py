"""HTTP caching of the API's answers: what every reader shares may be kept by browsers and
CDNs for a moment and revalidated; everything else stays private.

- A shared read (a board's entries, the board, a series' current entries: the views
  leaderboards/api/response_cache.py wraps) carries `Cache-Control: public,
  max-age=LEADERBOARD_HTTP_MAX_AGE_SECONDS` and a strong `ETag`, and a request whose
  `If-None-Match` names that tag gets a `304` without a body. The tag is a 128-bit BLAKE2b
  of the body already encoded: nothing is rendered twice, and the micro-cache keeps the tag
  beside the body, so a kept answer costs no hash at all.
- Every other API answer (a player's rank, writes, anything behind a key) gets
  `Cache-Control: private, no-store` (PrivateApiAnswersMiddleware), so no shared cache
  keeps what one caller asked about or was given (a webhook's secret).
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import blake2b

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.http import parse_etags

from config.renderers import is_api_request

PRIVATE = "private, no-store"


def etag_of(body: bytes) -> str:
    """A strong entity tag of the body: a quoted 128-bit BLAKE2b, hex."""
    return f'"{blake2b(body, digest_size=16).hexdigest()}"'


def shared_answer(
    request: HttpRequest, response: HttpResponse | None, body: bytes, content_type: str, etag: str
) -> HttpResponse:
    """The answer to a shared read: `response` (or one made of `body`), or a 304 when the
    client holds this version, with the caching headers either way."""
    if _holds(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        response = HttpResponseNotModified()
    elif response is None:
        response = HttpResponse(body, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={settings.LEADERBOARD_HTTP_MAX_AGE_SECONDS}"
    return response


def _holds(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names the tag (compared weakly, as RFC 9110 says for it)."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


class PrivateApiAnswersMiddleware:
    """API answers that do not say how to cache them are private and not stored."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "Cache-Control" not in response and is_api_request(request):
            response["Cache-Control"] = PRIVATE
        return response
