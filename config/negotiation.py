"""Content negotiation with a fast answer for the usual request.

API clients send no Accept header, `*/*` or `application/json`; for them the answer is the
first renderer (JSON), with no parsing of media types. Anything else (a browser's
`text/html`, `?format=`, a media type we do not render) goes through DRF's negotiation,
406 included, as before.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

_PLAIN_ACCEPTS = frozenset({"", "*/*", "application/json"})


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "").strip()
        override = self.settings.URL_FORMAT_OVERRIDE
        if accept in _PLAIN_ACCEPTS and not format_suffix and override not in request.query_params:
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
