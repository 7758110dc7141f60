"""API keys in the admin: made with scopes (the key shown once), listed with them."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from access.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_key_made_in_the_admin_has_the_scopes_ticked_and_is_shown_once(admin_client):
    response = admin_client.post(
        "/admin/access/apikey/add/",
        {"name": "game-server", "scopes": ["events:write", "rejected:read"], "expiry_date": ""},
    )

    assert response.status_code == 302, response.content
    api_key = ApiKey.objects.get(name="game-server")
    assert api_key.scopes == ["events:write", "rejected:read"]
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    key = re.search(r"The API key for game-server is: (\S+)\. ", messages).group(1)
    assert ApiKey.objects.get_from_key(key) == api_key


def test_the_list_shows_each_keys_scopes(admin_client):
    ApiKey.objects.create_key(name="reader", scopes=[])
    ApiKey.objects.create_key(name="writer", scopes=["boards:write"])

    html = admin_client.get("/admin/access/apikey/").content.decode()

    assert "boards:write" in html
    assert ">none<" in html


def test_the_librarys_own_key_model_is_not_in_the_admin(admin_client):
    assert admin_client.get("/admin/rest_framework_api_key/apikey/").status_code == 404
