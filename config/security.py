"""The Content-Security-Policy of the public pages: everything from our own origin, no
inline script or style, no plugins, not framed. The pages load one stylesheet and one
script (static/js/live.js, which polls the page's fragments from the same origin) and
nothing else, so the policy allows exactly that. A header on the page views rather than a
middleware such as django-csp's: the admin and Swagger UI rely on inline code, and the API
answers JSON, so the pages are the only responses a policy is for."""

from __future__ import annotations

import functools

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # data: for the empty favicon
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def content_security_policy(view):
    """Send the pages' policy with every response of `view`."""

    @functools.wraps(view)
    def with_policy(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return with_policy
