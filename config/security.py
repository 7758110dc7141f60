"""The Content-Security-Policy of the public pages: everything from our own origin, no
inline script or style, no plugins, not framed. The pages load one stylesheet and one
script (static/js/live.js, which follows the board's stream and polls the page's fragments
from the same origin when it cannot) and nothing else, so the policy allows exactly that,
plus the stream server's origin when STREAM_PUBLIC_URL puts it elsewhere. A header on the
page views rather than a middleware such as django-csp's: the admin and Swagger UI rely on
inline code, and the API answers JSON, so the pages are the only responses a policy is
for."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.conf import settings


@functools.cache
def policy(stream_url: str = "") -> str:
    """The policy of pages that open streams at `stream_url` (empty: their own origin)."""
    connect = "connect-src 'self'"
    if stream_url:
        parts = urlsplit(stream_url)
        connect += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",  # data: for the empty favicon
            connect,
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = policy()


def content_security_policy(view):
    """Send the pages' policy with every response of `view`."""

    @functools.wraps(view)
    def with_policy(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", policy(settings.STREAM_PUBLIC_URL))
        return response

    return with_policy
