"""The API's JSON renderer: DRF's, encoded by msgspec.

msgspec encodes the plain rows reads answer with (dataclasses such as
leaderboards.selectors.Entry) without a serializer, and is several times faster than the
standard library's json on the pages of a board. What msgspec does not know natively
(lazy translations, DRF's str subclasses such as ErrorDetail) goes through DRF's
own encoder, so every answer reads as before. Indented output (the browsable API, DEBUG
only) stays DRF's.
"""

from __future__ import annotations

import msgspec
from django.http import HttpResponse, JsonResponse
from rest_framework import renderers
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

_default = JSONEncoder().default


def _enc_hook(obj: object) -> object:
    if isinstance(obj, str):  # a str subclass (ErrorDetail, SafeString)
        return str(obj)
    return _default(obj)


_encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        return _encode(data)


def json_response(request, data, status: int = 200) -> HttpResponse | Response:
    """`data` as the response of an API view, encoded at once when the negotiated renderer
    is this JSON one: DRF's Response is a template response whose setup and deferred
    rendering cost more than encoding a page does. Any other renderer (the browsable API
    under DEBUG) gets a DRF Response as usual."""
    if isinstance(getattr(request, "accepted_renderer", None), JSONRenderer):
        return HttpResponse(_encode(data), status=status, content_type="application/json")
    return Response(data, status=status)


def is_api_request(request) -> bool:
    """Whether the request is for the JSON API (and its errors are JSON)."""
    return request.path.startswith("/api/")


def error_response(request, detail: str, status: int) -> HttpResponse:
    """An error answered outside DRF: the API's `{"detail"}` body under /api/, plain text
    elsewhere."""
    if is_api_request(request):
        return JsonResponse({"detail": detail}, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")
