"""Scoped API keys: each write (and reading rejected events) needs a key with its scope;
a key has the scopes it was given and no others, and stops working once revoked or
expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import EXPIRED_KEY, NO_KEY, UNKNOWN_KEY, HasScopedApiKey
from leaderboards.models import Board, Series
from tests.factories import api_client_with

pytestmark = pytest.mark.django_db

BOARD = {"slug": "weekly", "name": "Weekly", "starts_at": "2026-01-01T00:00:00Z"}
SERIES = {"slug": "daily", "name": "Daily", "period": "daily"}
EVENT = {"player_id": "p1", "delta": 5}


def client_with(*scopes: str, **fields) -> APIClient:
    return api_client_with(*scopes, name="test", **fields)


def test_a_key_without_scopes_is_refused_every_write_with_the_scope_named(topic):
    client = client_with()

    for path, body, scope in [
        ("/api/v1/leaderboards/", BOARD, "boards:write"),
        ("/api/v1/series/", SERIES, "boards:write"),
        ("/api/v1/events/", EVENT, "events:write"),
    ]:
        response = client.post(path, body, format="json")
        assert response.status_code == 403, path
        assert response.json() == {"detail": f"This API key lacks the scope '{scope}'."}
    response = client.get("/api/v1/rejected-events/")
    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the scope 'rejected:read'."}
    assert not Board.objects.exists()
    assert not Series.objects.exists()


def test_a_key_can_do_what_its_scopes_name_and_nothing_else(topic):
    events_only = client_with(Scope.EVENTS_WRITE)
    boards_only = client_with(Scope.BOARDS_WRITE)
    rejected_only = client_with(Scope.REJECTED_READ)

    assert events_only.post("/api/v1/events/", EVENT, format="json").status_code == 202
    assert events_only.post("/api/v1/leaderboards/", BOARD, format="json").status_code == 403
    assert boards_only.post("/api/v1/leaderboards/", BOARD, format="json").status_code == 201
    assert boards_only.post("/api/v1/series/", SERIES, format="json").status_code == 201
    assert boards_only.post("/api/v1/events/", EVENT, format="json").status_code == 403
    assert rejected_only.get("/api/v1/rejected-events/").status_code == 200
    assert rejected_only.post("/api/v1/events/", EVENT, format="json").status_code == 403


def test_reads_need_no_key_and_ignore_a_scopeless_one(client):
    Board.objects.create(slug="open", name="Open", starts_at=timezone.now())

    assert client.get("/api/v1/leaderboards/open/entries/").status_code == 200
    assert client_with().get("/api/v1/leaderboards/open/entries/").status_code == 200
    response = client_with().post(
        "/api/v1/leaderboards/open/ranks/", {"player_ids": ["p1"]}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("credentials", "detail"),
    [
        (None, NO_KEY),
        ("Api-Key nope.nope", UNKNOWN_KEY),
        ("Api-Key nul\x00.key", UNKNOWN_KEY),
        ("Bearer something", NO_KEY),
    ],
)
def test_missing_or_unknown_keys_are_refused_saying_why(credentials, detail):
    client = APIClient()
    if credentials:
        client.credentials(HTTP_AUTHORIZATION=credentials)

    response = client.post("/api/v1/leaderboards/", BOARD, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": detail}


def test_a_revoked_or_expired_key_stops_working(topic):
    revoked = client_with(*Scope.values, revoked=True)
    expired = client_with(*Scope.values, expiry_date=timezone.now() - timedelta(seconds=1))
    later = client_with(*Scope.values, expiry_date=timezone.now() + timedelta(days=1))

    response = revoked.post("/api/v1/events/", EVENT, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": UNKNOWN_KEY})
    response = expired.post("/api/v1/events/", EVENT, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": EXPIRED_KEY})
    assert later.post("/api/v1/events/", EVENT, format="json").status_code == 202


def test_a_method_a_view_does_not_serve_is_a_405_for_a_valid_key():
    response = client_with(*Scope.values).delete("/api/v1/leaderboards/")

    assert response.status_code == 405


def _api_views(resolver: URLResolver | None = None):
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "view_class", None)
            if view is not None and issubclass(view, APIView):
                yield view


WRITE_METHODS = ("post", "put", "patch", "delete")


def test_every_api_view_that_writes_names_the_scope_it_needs():
    views = {view for view in _api_views() if view.__module__.split(".")[0] != "drf_spectacular"}
    unscoped = []
    for view in views:
        permissions = view().get_permissions()
        open_writes = [AllowAny] == [type(permission) for permission in permissions]
        if open_writes:
            assert getattr(view, "post_is_read", False), f"{view.__name__} writes without a key"
            continue
        assert all(isinstance(permission, HasScopedApiKey) for permission in permissions)
        if any(hasattr(view, method) for method in WRITE_METHODS) and not getattr(
            view, "api_key_scope", None
        ):
            unscoped.append(view.__name__)

    assert len(views) > 10
    assert not unscoped, f"views with writes and no api_key_scope: {unscoped}"
