"""config/exceptions.py: `exception_handler`, the one place that turns what views and
services raise into the API's error bodies and status codes."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404

from config.exceptions import BadRequest, ServiceUnavailable, exception_handler

# What APIView.get_exception_handler_context passes; the handler reads none of it.
CONTEXT = {"view": None, "args": (), "kwargs": {}, "request": None}


class BrokerDown(ServiceUnavailable):
    retry_after_seconds = 7


def handle(exc: Exception):
    return exception_handler(exc, CONTEXT)


def test_a_django_validation_error_with_fields_is_a_400_naming_each_field():
    response = handle(DjangoValidationError({"slug": ["taken"], "name": ["blank", "short"]}))

    assert response.status_code == 400
    assert response.data == {"slug": ["taken"], "name": ["blank", "short"]}


def test_a_django_validation_error_without_fields_is_a_400_of_non_field_errors():
    response = handle(DjangoValidationError("bad"))

    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["bad"]}


def test_a_list_of_messages_without_fields_keeps_every_message():
    response = handle(DjangoValidationError(["bad", "worse"]))

    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["bad", "worse"]}


def test_a_django_validation_error_with_params_is_formatted():
    response = handle(
        DjangoValidationError(
            {"metric": DjangoValidationError("%(m)s is bad", params={"m": "x y"})}
        )
    )

    assert response.data == {"metric": ["x y is bad"]}


def test_http_404_is_a_404_with_its_message_as_detail():
    response = handle(Http404("No Board matches the given query."))

    assert response.status_code == 404
    assert response.data == {"detail": "No Board matches the given query."}


def test_a_service_unavailable_is_a_503_with_retry_after():
    response = handle(BrokerDown("Kafka is unavailable"))

    assert response.status_code == 503
    assert response.data == {"detail": "Kafka is unavailable"}
    assert response["Retry-After"] == "7"


def test_a_plain_service_unavailable_asks_to_retry_after_its_default():
    response = handle(ServiceUnavailable("Redis is unavailable"))

    assert response.status_code == 503
    assert response["Retry-After"] == str(ServiceUnavailable.retry_after_seconds)


def test_bad_request_is_a_400_with_its_message_as_detail():
    response = handle(BadRequest("x"))

    assert response.status_code == 400
    assert response.data == {"detail": "x"}
    assert not response.has_header("Retry-After")


def test_django_permission_denied_is_a_403():
    response = handle(PermissionDenied("not yours"))

    assert response.status_code == 403
    assert response.data == {"detail": "not yours"}


@pytest.mark.parametrize("exc", [ValueError("boom"), KeyError("k"), RuntimeError()])
def test_any_other_exception_is_left_to_propagate(exc):
    assert handle(exc) is None


def test_the_handler_also_works_with_an_empty_context():
    assert exception_handler(BadRequest("x"), {}).status_code == 400


def test_a_board_created_twice_with_one_slug_is_a_400_naming_the_slug(keyed_client):
    data = {"slug": "twice", "name": "Twice", "starts_at": "2026-01-01T00:00:00Z"}

    first = keyed_client.post("/api/v1/leaderboards/", data, format="json")
    second = keyed_client.post("/api/v1/leaderboards/", data, format="json")

    assert first.status_code == 201, first.json()
    assert second.status_code == 400
    assert second.json() == {"slug": ["Board with this Slug already exists."]}
