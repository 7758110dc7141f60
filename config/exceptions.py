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
  `{"detail": "..."}` with a `Retry-After` header;
- Django's `SuspiciousOperation` (too many form fields, say) becomes a 400
  `{"detail": "..."}`, as Django's own handler400 (config/errors.py) answers it outside
  DRF views, and is logged as Django logs it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
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


def bad_request_detail(exception: Exception) -> str:
    """What a 400 says about a request Django refused: the known refusals in words of
    their own (never the exception's text, which may echo the request, such as the
    Host header), anything else as a plain bad request."""
    if isinstance(exception, DisallowedHost):
        return "The Host header names a host this service does not serve."
    if isinstance(exception, TooManyFieldsSent):
        return (
            "Too many query or form parameters: at most "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are accepted."
        )
    if isinstance(exception, TooManyFilesSent):
        return f"Too many files: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} are accepted."
    if isinstance(exception, RequestDataTooBig):
        return "The request body is too large."
    return "Bad request."


def exception_handler(exc: Exception, context: dict):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, ServiceUnavailable):
        exc = _Unavailable(str(exc), exc.retry_after_seconds)
    elif isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
        exc = BadRequest(bad_request_detail(exc))
    return drf_exception_handler(exc, context)
