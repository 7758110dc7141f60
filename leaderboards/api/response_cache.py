"""A per-process micro-cache of shared pages: a board's entries, the board, a series'
current entries.

Thousands of clients a second ask for the same top 100. Each process keeps the rendered
answer to a GET for `LEADERBOARD_RESPONSE_CACHE_MS` (250 ms by default) and serves it
again to whoever asks for the same URL meanwhile, so a popular page costs one Redis read
per process per quarter second and the rest only the framework's own floor. An event is
still visible within the freshness SLO (consumed to visible in under a second): the
consumer's Redis write plus at most one cache period. Only 200 answers are kept; player
lookups (a rank, around, ranks of a list) vary per caller and are not cached. 0 turns it
off (the test suite does, so a test's write is read back at once).

Every answer it wraps, kept or not, is a shared read for HTTP caches too: public for a
second, with an ETag hashed once from the encoded body and kept beside it, and a 304 to a
client that holds it (config/http_caching.py).
"""

from __future__ import annotations

import functools
import time

from rest_framework.response import Response

from config.http_caching import etag_of, shared_answer
from config.staleness import response_cache_ttl

MAX_ENTRIES = 1_000  # distinct URLs per process; past it the cache starts again empty


_caches: list[dict] = []


def micro_cached(get):
    """Wrap an APIView's `get`. It runs after the view's permissions and throttles, so a
    kept answer is rate limited like any other; only an encoded 200 (what json_response
    makes for JSON) is kept, not a DRF Response still to be rendered (the browsable API)."""
    cache: dict[str, tuple[float, bytes, str, str]] = {}
    _caches.append(cache)

    @functools.wraps(get)
    def cached_get(view, request, *args, **kwargs):
        ttl = response_cache_ttl()
        # The Accept header picks the renderer (the browsable API under DEBUG).
        key = f"{request.get_full_path()} {request.META.get('HTTP_ACCEPT', '')}"
        now = time.monotonic()
        hit = cache.get(key)  # none is kept with a TTL of 0
        if hit is not None and now - hit[0] < ttl:
            return shared_answer(request, None, hit[1], hit[2], hit[3])
        response = get(view, request, *args, **kwargs)
        if response.status_code != 200 or isinstance(response, Response):
            return response
        body, content_type = response.content, response["Content-Type"]
        etag = etag_of(body)
        if ttl > 0:
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = (now, body, content_type, etag)
        return shared_answer(request, response, body, content_type, etag)

    return cached_get


def response_cache_clear() -> None:
    """Forget every kept answer of this process (tests: another test's board had the URL)."""
    for cache in _caches:
        cache.clear()
