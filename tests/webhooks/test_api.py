"""The webhooks API (webhooks/api.py): register, list, read, remove, and the delivery log;
every method behind webhooks:write, every bad input a 400 naming the field."""

from __future__ import annotations

import base64
import uuid

import pytest
from rest_framework.test import APIClient

from access.models import ApiKey, Scope
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/hooks"  # a public address: no DNS needed


def register(client: APIClient, url: str, events: object = ("board.finalized",)):
    body = {"url": url, "events": list(events) if isinstance(events, tuple) else events}
    return client.post("/api/v1/webhooks/", body, format="json")


def test_registering_answers_the_secret_once(hooks_client):
    response = register(hooks_client, PUBLIC_URL, ("board.finalized", "board.started"))

    assert response.status_code == 201
    created = response.json()
    assert created["url"] == PUBLIC_URL
    assert created["events"] == ["board.finalized", "board.started"]
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    detail = hooks_client.get(f"/api/v1/webhooks/{created['id']}/").json()
    listed = hooks_client.get("/api/v1/webhooks/").json()
    assert "secret" not in detail
    assert detail == {key: value for key, value in created.items() if key != "secret"}
    assert listed["count"] == 1
    assert listed["results"] == [detail]


def test_an_event_named_twice_is_kept_once(hooks_client):
    response = register(hooks_client, PUBLIC_URL, ("board.started", "board.started"))

    assert response.status_code == 201
    assert response.json()["events"] == ["board.started"]


def test_every_method_needs_a_key_with_the_webhooks_scope(db):
    endpoint = Endpoint.objects.create(url=PUBLIC_URL, events=["board.started"], secret="x")
    _, key = ApiKey.objects.create_key(name="boards", scopes=[Scope.BOARDS_WRITE])
    scoped_elsewhere = APIClient()
    scoped_elsewhere.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    for client, detail in [
        (APIClient(), "This needs an API key"),
        (scoped_elsewhere, "This API key lacks the scope 'webhooks:write'."),
    ]:
        for method, path in [
            ("get", "/api/v1/webhooks/"),
            ("post", "/api/v1/webhooks/"),
            ("get", f"/api/v1/webhooks/{endpoint.pk}/"),
            ("delete", f"/api/v1/webhooks/{endpoint.pk}/"),
            ("get", f"/api/v1/webhooks/{endpoint.pk}/deliveries/"),
        ]:
            response = getattr(client, method)(path)
            assert response.status_code == 403, (method, path)
            assert response.json()["detail"].startswith(detail)
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": PUBLIC_URL, "events": []}, "events", "This list may not be empty."),
        ({"url": PUBLIC_URL, "events": ["board.exploded"]}, "events", "not a valid choice"),
        ({"url": PUBLIC_URL, "events": "board.started"}, "events", "Expected a list"),
        ({"url": PUBLIC_URL}, "events", "This field is required."),
        ({"events": ["board.started"]}, "url", "This field is required."),
        ({"url": 42, "events": ["board.started"]}, "url", "Only http and https"),
        ({"url": "ftp://93.184.215.14/", "events": ["board.started"]}, "url", "Only http"),
        ({"url": "javascript:alert(1)", "events": ["board.started"]}, "url", "Only http"),
        ({"url": "https://", "events": ["board.started"]}, "url", "no host"),
        ({"url": "http://[::1", "events": ["board.started"]}, "url", "Not a valid URL"),
        ({"url": "http://93.184.215.14:99999/", "events": ["board.started"]}, "url", "valid"),
        ({"url": "http://a b.example/", "events": ["board.started"]}, "url", "spaces"),
        ({"url": "http://x.example/\r\nHost: evil", "events": ["board.started"]}, "url", "spaces"),
        ({"url": "http://u:p@93.184.215.14/", "events": ["board.started"]}, "url", "password"),
        (
            {"url": "https://" + "a" * 3000 + ".example/", "events": ["board.started"]},
            "url",
            "2048",
        ),
        ({"url": "http://xn--.example/", "events": ["board.started"]}, "url", ""),
    ],
)
def test_bad_input_is_a_400_naming_the_field(hooks_client, body, field, message):
    response = hooks_client.post("/api/v1/webhooks/", body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert message in str(response.json()[field])
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"url": ',
        b"[]",
        b"null",
        b'"https://93.184.215.14/"',
        b"\xff\xfe",
        b'{"url": "http://\\udcff.example/", "events": ["board.started"]}',  # a lone surrogate
        b'{"url": "http://\\u00ff\\u0000.example/", "events": ["board.started"]}',
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(hooks_client, body):
    response = hooks_client.post("/api/v1/webhooks/", body, content_type="application/json")

    assert response.status_code == 400
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hooks",  # a DNS name resolving to 127.0.0.1
        "http://127.0.0.1:8000/",
        "http://127.1/",
        "http://2130706433/",  # 127.0.0.1 written as a number
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fe80::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[fc00::1]/",
    ],
)
def test_a_url_reaching_a_private_network_is_refused(hooks_client, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False

    response = register(hooks_client, url)

    assert response.status_code == 400
    assert "public addresses only" in response.json()["url"][0]
    assert not Endpoint.objects.exists()


def test_private_networks_are_allowed_when_the_setting_says_so(hooks_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    assert register(hooks_client, "http://localhost:9/hooks").status_code == 201


def test_a_host_that_does_not_resolve_is_refused(hooks_client):
    response = register(hooks_client, "https://no-such-host.invalid/hooks")

    assert response.status_code == 400
    assert "does not resolve" in response.json()["url"][0]


def test_unknown_ids_are_404s(hooks_client):
    for path in [
        f"/api/v1/webhooks/{uuid.uuid4()}/",
        f"/api/v1/webhooks/{uuid.uuid4()}/deliveries/",
        "/api/v1/webhooks/not-a-uuid/",
        "/api/v1/webhooks/1/deliveries/",
    ]:
        response = hooks_client.get(path)
        assert response.status_code == 404, path
        assert "detail" in response.json()


def test_a_removed_endpoint_is_gone(hooks_client):
    endpoint_id = register(hooks_client, PUBLIC_URL).json()["id"]

    assert hooks_client.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 204
    assert hooks_client.get(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404
    assert hooks_client.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 404
