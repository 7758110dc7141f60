"""Rate limits, DRF's throttling (REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]): reads per
client IP (`THROTTLE_READ_RATE`), writes per API key (`THROTTLE_WRITE_RATE`). Past its
rate a client gets DRF's 429 with `Retry-After` (the seconds until its window ends) and
`{"detail": ...}`.

The client IP is DRF's `get_ident`: `REMOTE_ADDR`, or behind `TRUSTED_PROXY_HOPS` proxies
(DRF's NUM_PROXIES) the address that many hops from the right of `X-Forwarded-For`, the
one the outermost trusted proxy saw; what a client writes further left is ignored.

The counts live in Redis (Django's cache server), in fixed windows, so every process
shares them; each process takes them in leases of 1% of the rate (at least 1): one script
call (INCRBY, and EXPIRE on a window's first lease) admits a client for its next several
requests to that process, and once Redis says the window is spent, the process refuses
the client without asking again until the window ends. A flood from one address costs a
Redis call per lease, not per request; a client's first request in a window, one script
call (its cost: docs/benchmarks.md). Leases never admit more than the rate; a client spread over P
processes may be refused up to (P - 1) leases early, at most a few percent of the rate.
DRF's SimpleRateThrottle keeps the time of every request of the window in one cached list
that it reads and rewrites whole, two round trips and O(rate) work a request, growing with
the rate (docs/benchmarks.md). A fixed
window lets a client send up to twice its rate across a window's edge, which a limit meant
against floods can afford. When Redis does not answer, requests pass unthrottled for a few
seconds and then it is tried again: an outage of the limiter never fails a request.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
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


# One atomic call: add a lease to the window's count; its first one starts the expiry.
LEASE = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
LEASE_SHARE = 100  # a lease is 1/100 of the rate
_script = None
# This process's leases, per scope: (window, {key: requests still admitted, or SPENT}).
# A new window starts them afresh; so does MAX_LEASES clients in one (forgetting leases
# only means asking Redis again).
_leases: dict[str, tuple[int, dict[str, int]]] = {}
_leases_lock = threading.Lock()
SPENT = -1
MAX_LEASES = 100_000


def _lease_script():
    """The lease script on Django's cache connection (it reloads itself after a Redis
    restart forgets it)."""
    global _script
    if _script is None:
        _script = get_redis_connection("default").register_script(LEASE)
    return _script


def throttle_leases_clear() -> None:
    """Forget this process's leases (tests: Redis was flushed under them)."""
    with _leases_lock:
        _leases.clear()


def throttle_breaker_reset() -> None:
    """Ask Redis again at the next request, whatever failed before (tests: Redis is back)."""
    global _redis_down_until
    _redis_down_until = 0.0


def client_ip(request) -> str:
    """The client's address, as the rate limits see it (and the admin's login lockout)."""
    return BaseThrottle().get_ident(request)


def is_read(request, view) -> bool:
    """A GET or HEAD, or a POST that only reads (`post_is_read`: ranks of a list)."""
    return request.method in SAFE_METHODS or getattr(view, "post_is_read", False)


class RedisWindowThrottle(SimpleRateThrottle):
    """SimpleRateThrottle's rates and keys, counted in fixed windows in Redis, taken in
    leases."""

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
        with _leases_lock:
            leased_in, leases = _leases.get(self.scope, (None, None))
            if leased_in != window or len(leases) > MAX_LEASES:
                leases = {}
                _leases[self.scope] = (window, leases)
            left = leases.get(self.key, 0)
            if left > 0:
                leases[self.key] = left - 1
                return True
            if left == SPENT:
                return False
        if time.monotonic() < _redis_down_until:
            return True
        lease = max(1, self.num_requests // LEASE_SHARE)
        try:
            count = _lease_script()(keys=[f"{self.key}:{window}"], args=[self.duration + 1, lease])
        except RedisError as error:
            _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            logger.warning("rate limits off for %.0f s: Redis: %s", REDIS_RETRY_SECONDS, error)
            return True
        granted = min(lease, self.num_requests - (count - lease))  # what fits in the rate
        with _leases_lock:
            leases[self.key] = granted - 1 if granted > 0 else SPENT
        return granted > 0

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
