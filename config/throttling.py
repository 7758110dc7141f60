"""Rate limits, DRF's throttling (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]): reads per
client IP (`THROTTLE_READ_RATE`), writes per API key (`THROTTLE_WRITE_RATE`). Past its
rate a client gets DRF's 429 with `Retry-After` (the seconds until its window ends) and
`{"detail": ...}`.

The client IP is DRF's `get_ident`: `REMOTE_ADDR`, or behind `TRUSTED_PROXY_HOPS` proxies
(DRF's NUM_PROXIES) the address that many hops from the right of `X-Forwarded-For`, the
one the outermost trusted proxy saw; what a client writes further left is ignored.

The counts live in Redis (Django's cache server), in fixed windows: one script call a
request (INCR, and EXPIRE on a window's first request), 122 µs on this machine. DRF's
SimpleRateThrottle keeps the time of every request of the window in one cached list that
it reads and rewrites whole, two round trips and O(rate) a request: 335 µs on average over
the first 1,200 requests of a 1200/minute window, and growing with the rate. A fixed window
lets a client send up to twice its rate across a window's edge, which a limit meant
against floods can afford. When Redis does not answer, requests pass unthrottled for a few
seconds and then it is tried again: an outage of the limiter never fails a request.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from django_redis import get_redis_connection
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework_api_key.permissions import KeyParser

from config.renderers import error_response

logger = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0

_redis_down_until = 0.0  # monotonic time until which the limiter does not ask Redis


# One atomic call: count the request, and start the window's expiry on its first one.
COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_script = None


def _count_script():
    """The counting script on Django's cache connection (it reloads itself after a
    Redis restart forgets it)."""
    global _script
    if _script is None:
        _script = get_redis_connection("default").register_script(COUNT)
    return _script


def client_ip(request) -> str:
    """The client's address, as the rate limits see it (and the admin's login lockout)."""
    return BaseThrottle().get_ident(request)


def is_read(request, view) -> bool:
    """A GET or HEAD, or a POST that only reads (`post_is_read`: ranks of a list)."""
    return request.method in SAFE_METHODS or getattr(view, "post_is_read", False)


class RedisWindowThrottle(SimpleRateThrottle):
    """SimpleRateThrottle's rates and keys, counted in fixed windows in Redis."""

    def allow_request(self, request, view) -> bool:
        global _redis_down_until
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        if time.monotonic() < _redis_down_until:
            return True
        try:
            count = _count_script()(keys=[f"{self.key}:{window}"], args=[self.duration + 1])
        except RedisError as error:
            _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            logger.warning("rate limits off for %.0f s: Redis: %s", REDIS_RETRY_SECONDS, error)
            return True
        return count <= self.num_requests

    def wait(self) -> int:
        return max(1, math.ceil(self.window_ends - self.now))


class ReadRateThrottle(RedisWindowThrottle):
    """Reads, per client IP."""

    scope = "reads"

    def get_cache_key(self, request, view) -> str | None:
        if not is_read(request, view):
            return None
        return f"throttle:{self.scope}:{self.get_ident(request)}"


class WriteRateThrottle(RedisWindowThrottle):
    """Writes, per API key (its public prefix); the permission checked the key first."""

    scope = "writes"
    key_parser = KeyParser()

    def get_cache_key(self, request, view) -> str | None:
        if is_read(request, view):
            return None
        key = self.key_parser.get(request)
        ident = key.partition(".")[0] if key else self.get_ident(request)
        return f"throttle:{self.scope}:{ident}"


def rate_limited(view):
    """The API's read limit, per client IP, for a plain Django view (the public pages and
    the CSV export): past it, DRF's 429 body (JSON under /api/, text elsewhere) with
    `Retry-After`."""

    @functools.wraps(view)
    def limited(request, *args, **kwargs):
        throttle = ReadRateThrottle()
        if throttle.allow_request(request, None):
            return view(request, *args, **kwargs)
        wait = throttle.wait()
        response = error_response(request, str(Throttled(wait).detail), 429)
        response["Retry-After"] = str(wait)
        return response

    return limited
