"""No input answers 500 (issue 19): each hostile request found by a user, sent to each
endpoint it was found on, against the real PostgreSQL, Redis and Kafka, answers a 4xx with
the API's JSON error body under /api/, and the site's own page elsewhere.

The same requests through gunicorn, as production serves them (a chunked body, a bad Host
header, a deep body at a real worker's stack depth), are in tests/config/test_gunicorn.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.test import Client

from config.parsers import TOO_DEEP
from leaderboards.models import Board
from leaderboards.windows import WINDOW_RANGE_MESSAGE
from tests.factories import PlayerFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"
DEEP_BODIES = {
    "1,000 lists deep": "[" * 1000 + "]" * 1000,
    "1,000 objects deep": '{"a":' * 1000 + "1" + "}" * 1000,
    "900 deep inside a field": '{"player_ids": ' + "[" * 900 + "]" * 900 + "}",
    "33 deep": "[" * 33 + "]" * 33,
}
# Every endpoint that parses a JSON body; the ranks are a read, open to anyone.
JSON_BODY_ENDPOINTS = [
    ("post", "/api/v1/leaderboards/open/ranks/"),
    ("post", "/api/v1/events/"),
    ("post", "/api/v1/leaderboards/"),
    ("post", "/api/v1/series/"),
    ("put", "/api/v1/players/p1/"),
    ("patch", "/api/v1/players/p1/"),
    ("post", "/api/v1/leaderboards/open/participants/"),
]
FAR = "9999-12-31T23:00:00Z"
MANY_PARAMETERS = "&".join(f"p{i}=1" for i in range(1100))


@pytest.fixture(autouse=True)
def board(redis_client):
    return Board.objects.create(
        slug="open", name="Open", starts_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


@pytest.fixture
def api(keyed_client):
    """An API client with a key of every scope, getting the answer to whatever a view
    raises (as production does) rather than the exception."""
    keyed_client.raise_request_exception = False
    return keyed_client


@pytest.fixture
def anonymous():
    return Client(raise_request_exception=False)


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == JSON
    return response.json()


# -- deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), JSON_BODY_ENDPOINTS)
@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES)
def test_a_deeply_nested_body_is_a_400_saying_so(api, topic, method, url, body):
    PlayerFactory(external_id="p1")  # PATCH answers 404 for a player it does not know

    response = getattr(api, method)(url, body, content_type=JSON)

    assert assert_json_error(response, 400) == {"detail": TOO_DEEP}


def test_an_anonymous_deep_body_to_the_ranks_is_a_400(anonymous):
    response = anonymous.post(
        "/api/v1/leaderboards/open/ranks/", DEEP_BODIES["1,000 lists deep"], content_type=JSON
    )

    assert assert_json_error(response, 400) == {"detail": TOO_DEEP}


# -- windows beyond what the planner can handle -------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"from={FAR}", "from"),
        ("from=9999-12-31T23:59:59.999999Z", "from"),
        (f"from=2026-01-01T00:00:00Z&to={FAR}", "to"),
        ("from=1900-01-01T00:00:00Z", "from"),
    ],
)
def test_standings_beyond_the_window_range_are_a_400_naming_the_parameter(anonymous, query, field):
    response = anonymous.get(f"/api/v1/standings/?metric=score&{query}")

    assert assert_json_error(response, 400) == {field: [WINDOW_RANGE_MESSAGE]}


def test_a_time_that_overflows_in_utc_is_a_400_too(anonymous):
    response = anonymous.get("/api/v1/standings/?from=0001-01-01T00:00:00%2B01:00")

    assert list(assert_json_error(response, 400)) == ["from"]


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"starts_at": FAR}, "starts_at"),
        ({"starts_at": "2026-01-01T00:00:00Z", "ends_at": FAR}, "ends_at"),
        ({"starts_at": "1969-12-31T23:59:59Z"}, "starts_at"),
    ],
)
def test_a_board_beyond_the_window_range_is_refused_naming_the_field(api, window, field):
    data = {"slug": "far", "name": "Far", **window}

    response = api.post("/api/v1/leaderboards/", data, format="json")

    assert assert_json_error(response, 400) == {field: [WINDOW_RANGE_MESSAGE]}
    assert not Board.objects.filter(slug="far").exists()


def test_the_ends_of_the_window_range_are_accepted(api):
    response = api.post(
        "/api/v1/leaderboards/",
        {
            "slug": "widest",
            "name": "Widest",
            "starts_at": "1970-01-01T00:00:00Z",
            "ends_at": "9000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 201, response.content


@pytest.fixture(params=["postgresql", "redis"])
def stored_far_boards(request, redis_client, monkeypatch):
    """Boards stored before windows were bounded, read from PostgreSQL, or built into
    Redis on the first read."""
    if request.param == "redis":
        request.getfixturevalue("store")
    Board.objects.create(slug="far-start", name="Far", starts_at=datetime(9999, 12, 31, tzinfo=UTC))
    Board.objects.create(
        slug="far-end",
        name="Far end",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(9999, 12, 31, 23, 30, tzinfo=UTC),
    )
    ScoreDeltaFactory(
        player=PlayerFactory(external_id="p1"), delta=5, created_at=datetime(2026, 1, 2, tzinfo=UTC)
    )


@pytest.mark.parametrize(("slug", "entries"), [("far-start", []), ("far-end", [("p1", 5)])])
def test_a_board_stored_with_a_far_window_still_answers_every_read(
    anonymous, stored_far_boards, slug, entries
):
    base = f"/api/v1/leaderboards/{slug}"
    page = anonymous.get(f"{base}/entries/")
    ranks = anonymous.post(f"{base}/ranks/", {"player_ids": ["p1"]}, content_type=JSON)
    player = anonymous.get(f"{base}/players/p1/?around=2")
    csv = anonymous.get(f"{base}/entries.csv")
    html = anonymous.get(f"/boards/{slug}/")

    assert anonymous.get(f"{base}/").status_code == 200
    assert page.status_code == 200
    assert [(e["player_id"], e["score"]) for e in page.json()["results"]] == entries
    assert ranks.status_code == 200
    assert player.status_code == (200 if entries else 404)
    assert csv.status_code == 200
    assert len(b"".join(csv.streaming_content).splitlines()) == 1 + len(entries)
    assert html.status_code == 200


# -- too many parameters ------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/leaderboards/",
        "/api/v1/leaderboards/open/entries/",
        "/api/v1/standings/",
        "/api/v1/leaderboards/open/entries.csv",
    ],
)
def test_too_many_query_parameters_are_a_fast_400(anonymous, settings, debug, url):
    settings.DEBUG = debug
    started = time.perf_counter()

    response = anonymous.get(f"{url}?{MANY_PARAMETERS}")

    assert time.perf_counter() - started < 1
    assert assert_json_error(response, 400) == {
        "detail": "Too many query or form parameters: at most 1000 are accepted."
    }


@pytest.mark.parametrize("debug", [False, True])
def test_too_many_query_parameters_to_a_page_are_a_fast_400_too(anonymous, settings, debug):
    settings.DEBUG = debug
    started = time.perf_counter()

    response = anonymous.get(f"/boards/open/?{MANY_PARAMETERS}")

    assert time.perf_counter() - started < 1
    assert response.status_code == 400
    assert not response["Content-Type"].startswith(JSON)


def test_as_many_query_parameters_as_allowed_are_read(anonymous):
    response = anonymous.get("/api/v1/leaderboards/?" + "&".join(["x=1"] * 1000))

    assert response.status_code == 200


@pytest.mark.parametrize("debug", [False, True])
def test_too_many_form_fields_to_an_api_view_are_a_400(anonymous, settings, debug):
    settings.DEBUG = debug

    response = anonymous.post(
        "/api/v1/leaderboards/open/ranks/",
        MANY_PARAMETERS,
        content_type="application/x-www-form-urlencoded",
    )

    assert assert_json_error(response, 400) == {
        "detail": "Too many query or form parameters: at most 1000 are accepted."
    }


# -- bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/v1/events/", "/api/v1/leaderboards/open/ranks/", "/api/v1/leaderboards/"]
)
def test_a_chunked_body_is_a_411(api, url):
    response = api.generic("POST", url, b"", content_type=JSON, HTTP_TRANSFER_ENCODING="chunked")

    assert assert_json_error(response, 411) == {
        "detail": "Send the body with a Content-Length; chunked bodies are not read."
    }


def test_an_empty_body_to_the_events_says_it_is_empty(api, topic):
    response = api.generic("POST", "/api/v1/events/", b"", content_type=JSON)

    assert assert_json_error(response, 400) == {
        "detail": "The request body is empty: send one event object or a list."
    }


# -- Django's own error answers -----------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/nope/", "/api/nope", "/api/v1/leaderboards/open/nope/"])
def test_an_unknown_api_route_is_a_json_404(anonymous, url):
    assert assert_json_error(anonymous.get(url), 404) == {"detail": "Not found."}


def test_an_unknown_page_is_still_the_html_404(anonymous):
    response = anonymous.get("/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_missing_board_of_a_plain_api_view_is_a_json_404(anonymous):
    response = anonymous.get("/api/v1/leaderboards/none/entries.csv")

    assert assert_json_error(response, 404) == {"detail": "No Board matches the given query."}


@pytest.mark.parametrize("url", ["/api/v1/leaderboards/", "/api/v1/leaderboards/open/entries/"])
def test_a_host_not_allowed_is_a_json_400(anonymous, url):
    response = anonymous.get(url, HTTP_HOST="evil.example")

    assert assert_json_error(response, 400) == {
        "detail": "The Host header names a host this service does not serve."
    }


def test_a_host_not_allowed_on_a_page_is_still_html(anonymous):
    response = anonymous.get("/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_method_not_allowed_is_a_json_405(api):
    response = api.delete("/api/v1/leaderboards/")

    assert assert_json_error(response, 405) == {"detail": 'Method "DELETE" not allowed.'}


def test_a_csrf_refusal_under_the_api_is_json():
    response = Client(enforce_csrf_checks=True).post("/api/v1/leaderboards/open/entries.csv")

    assert assert_json_error(response, 403)["detail"].startswith("CSRF verification failed")


@pytest.mark.urls("tests.config.failing_urls")
def test_a_server_error_under_the_api_is_a_json_500(anonymous):
    response = anonymous.get("/api/v1/boom/")

    assert assert_json_error(response, 500) == {
        "detail": "Server error: it is logged; try again later."
    }


@pytest.mark.urls("tests.config.failing_urls")
def test_a_server_error_on_a_page_is_still_the_html_500(anonymous):
    response = anonymous.get("/boom/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
