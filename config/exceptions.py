"""The API's one error path (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

Views and services raise; this turns what they raise into the API's error bodies, so no
view builds a 4xx or 5xx by hand:

- Django's `ValidationError` (what services raise, e.g. from `full_clean`) becomes a 400
  naming each field, like a serializer's own errors: `{"<field>": ["<message>", ...]}`,
  with `non_field_errors` for the rest;
- `Http404` becomes a 404 `{"detail": "..."}`, as every other error without fields;
- `Conflict` (a request at odds with the state of what it names: a full tournament, say)
  becomes a 409 `{"detail": "..."}`;
- `ServiceUnavailable` (a dependency that did not answer: Kafka, say) becomes a 503
  `{"detail": "..."}` with a `Retry-After` header.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class ServiceUnavailable(Exception):
    """A service the request needs did not answer; the client may retry after a while."""

    retry_after_seconds = 5


class Conflict(exceptions.APIException):
    """The request conflicts with the current state of its target (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class BadRequest(exceptions.APIException):
    """A request that no field-by-field validation describes (an empty list, say)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"


class _Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"

    def __init__(self, detail: str, wait: int) -> None:
        super().__init__(detail)
        self.wait = wait  # DRF's handler turns it into Retry-After


def exception_handler(exc: Exception, context: dict):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, ServiceUnavailable):
        exc = _Unavailable(str(exc), exc.retry_after_seconds)
    return drf_exception_handler(exc, context)
