"""The API answers JSON to the usual Accept headers, and negotiates the rest as DRF does."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; q=0.9"])
def test_api_clients_get_json(accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = APIClient().get("/api/v1/leaderboards/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_media_type_the_api_does_not_render_is_406():
    response = APIClient().get("/api/v1/leaderboards/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert "detail" in response.json()
