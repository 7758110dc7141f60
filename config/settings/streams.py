"""The stream server (`manage.py serve_streams`, leaderboards/streams/): heartbeats, the
cap on open streams per client address, the safety re-read, and where pages find it."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_int

# A comment line on every open stream at least this often, so proxies that close idle
# connections (60 s is common) keep them and clients notice a dead server.
STREAM_HEARTBEAT_SECONDS = env_int("STREAM_HEARTBEAT_SECONDS", 15, minimum=1)
# Open streams one client address may hold on one stream process (429 beyond).
STREAM_MAX_PER_CLIENT = env_int("STREAM_MAX_PER_CLIENT", 20, minimum=1)
# Boards with open streams are read again this often even without a change notice:
# notices are at most once, and this bounds how long a lost one goes unnoticed.
STREAM_REFRESH_SECONDS = env_int("STREAM_REFRESH_SECONDS", 10, minimum=1)
# Where the public pages open streams (static/js/live.js): empty for the same origin
# (production routes `.../stream/` paths to the stream server), or a base URL such as
# http://127.0.0.1:8100 (`make run`, where the stream server listens on its own port). The
# pages' Content-Security-Policy lets them connect to its origin (config/security.py).
STREAM_PUBLIC_URL = os.environ.get("STREAM_PUBLIC_URL", "").strip().rstrip("/")
if STREAM_PUBLIC_URL and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", STREAM_PUBLIC_URL):
    raise ImproperlyConfigured(
        f"STREAM_PUBLIC_URL={STREAM_PUBLIC_URL!r} is not an http(s) base URL: use e.g."
        " https://streams.example.com, or leave it empty for the pages' own origin."
    )

# The stream server's middleware (config/asgi.py), in place of MIDDLEWARE: what a stream
# needs, every one async-capable, so that a connect never hops to Django's one thread for
# sync code (thousands of clients reconnect at once after a deploy). Request ids and the
# access line, our pages' cross-origin reads, the 503 for a database outage, HTTPS.
STREAM_MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.cors.PublicReadCorsMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
]
