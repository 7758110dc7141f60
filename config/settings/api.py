"""The HTTP API: request bodies, rate limits, DRF, the OpenAPI schema, caching by browsers
and CDNs, cross-origin reads."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_list, env_rate
from config.settings.base import DEBUG, STATIC_URL
from config.spectacular import spectacular_settings

# The largest request body accepted (413 beyond, config/middleware.py): 1,000 events of a
# few hundred bytes, the most one POST /events/ takes, fit many times over.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1)

# Rate limits (config/throttling.py), "N/second|minute|hour|day" or "off": reads per client
# IP, writes per API key. The client IP is the address TRUSTED_PROXY_HOPS hops from the
# right of X-Forwarded-For (0: the connection's own address, for a service facing clients
# directly). Set it to the number of proxies in front of the app that append to the header.
THROTTLE_READ_RATE = env_rate("THROTTLE_READ_RATE", "1200/minute")
THROTTLE_WRITE_RATE = env_rate("THROTTLE_WRITE_RATE", "6000/minute")
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    # Reads are public; every write needs `Authorization: Api-Key <key>` with the view's
    # scope (access/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["access.permissions.ReadOnlyOrScopedApiKey"],
    "DEFAULT_THROTTLE_CLASSES": [
        "config.throttling.ReadRateThrottle",
        "config.throttling.WriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"reads": THROTTLE_READ_RATE, "writes": THROTTLE_WRITE_RATE},
    "NUM_PROXIES": TRUSTED_PROXY_HOPS,
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "PAGE_SIZE": 50,  # config.pagination.DEFAULT_PAGE_SIZE (DRF checks that one is set)
    "DEFAULT_RENDERER_CLASSES": ["config.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.ContentNegotiation",
    # DRF's three, JSON's nesting bounded (config/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error path: services' ValidationError, Http404 and ServiceUnavailable included.
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
}

# The OpenAPI schema (/api/schema/) and its Swagger UI (/api/docs/): config/spectacular.py.
SPECTACULAR_SETTINGS = spectacular_settings(static_url=STATIC_URL)


# Shared reads (a board's entries, the board, a series' current entries) may be kept by
# browsers and CDNs this long (`Cache-Control: public, max-age`), then revalidated with
# their ETag (config/http_caching.py). What a reader sees is then up to this old, on top of
# the consumer's apply and the micro-cache (LEADERBOARD_RESPONSE_CACHE_MS): with the
# defaults, about 1.25 s at worst behind a cache, against the 1 s freshness budget of
# readers that ask the service; 0 keeps every reader within it. Other API answers are
# `private, no-store`.
LEADERBOARD_HTTP_MAX_AGE_SECONDS = env_int("LEADERBOARD_HTTP_MAX_AGE_SECONDS", 1, minimum=0)

# Origins (scheme://host[:port]) whose pages may read the public API from the browser
# (config/cors.py): GET and HEAD of boards, standings, players and series only. Empty: off.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
for _origin in CORS_ALLOWED_ORIGINS:
    if not re.fullmatch(r"https?://[^/?#\s]+", _origin):
        raise ImproperlyConfigured(
            f"CORS_ALLOWED_ORIGINS: {_origin!r} is not an origin: use scheme://host[:port], "
            "e.g. https://promo.example.com, without a path or a trailing slash."
        )
CORS_URLS_REGEX = r"^/api/v1/(leaderboards|standings|players|series)/"
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = ("accept", "accept-language", "content-language", "if-none-match")
CORS_EXPOSE_HEADERS = ("ETag", "Retry-After", "X-Request-ID")
CORS_ALLOW_CREDENTIALS = False
