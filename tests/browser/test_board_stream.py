"""The board page on the stream server (STREAM_PUBLIC_URL, another origin as under
`make run`): it follows the board's stream and updates without polling its fragment, and
falls back to polling when there is no stream server to follow."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from devtools.embedded import free_port
from tests.browser.conftest import csp_violations
from tests.browser.test_board_page import LIVE_UPDATE_TIMEOUT, open_board, standings
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consume_until_idle, produce, score_events
from tests.leaderboards.streams.server import stream_server

pytestmark = pytest.mark.django_db(transaction=True)

FRAGMENT_FETCHES = """
return performance.getEntriesByType("resource")
  .filter((entry) => entry.name.includes("/entries-fragment/")).length;
"""


def live_mode(driver) -> str | None:
    return driver.execute_script("return document.querySelector('#entries').dataset.liveMode")


def fragment_fetches(driver) -> int:
    return driver.execute_script(FRAGMENT_FETCHES)


def board_with_players(topic):
    board = BoardFactory()
    events = list(score_events(40, players=8))
    produce(((key, value) for key, value, _, _ in events), topic)
    consume_until_idle(topic)
    return board


def newcomer_scores(topic, board, delta: int = 100_000) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    event = {
        "event_id": str(uuid.uuid4()),
        "player_id": "newcomer",
        "delta": delta,
        "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    produce([(b"newcomer", json.dumps(event).encode())], topic)
    results = consume_until_idle(topic)
    assert "applied" in {result.boards.get(board.pk) for result in results}  # to Redis


@pytest.fixture
def streams(settings, redis_client):
    with stream_server(STREAM_REFRESH_SECONDS="60") as (port, _):
        settings.STREAM_PUBLIC_URL = f"http://127.0.0.1:{port}"
        yield port


@pytest.mark.slow
def test_the_board_page_updates_from_the_stream_without_polling(
    browser, live_server, topic, store, streams
):
    board = board_with_players(topic)
    open_board(browser, live_server, board)
    before = standings(browser)
    assert len(before) == 8
    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: live_mode(d) == "stream", message="the page did not open its stream"
    )
    browser.execute_script("window.notReloaded = true")

    newcomer_scores(topic, board)

    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: standings(d)[:1] == [("1", "newcomer", "100,000")],
        message="the standings did not show the newly consumed event",
    )
    assert standings(browser)[1:] == [(str(int(r) + 1), p, s) for r, p, s in before]
    assert (
        browser.execute_script(
            "return document.querySelector('#entries .pager-summary').textContent"
        )
        == "Showing 1\N{EN DASH}9 of 9 players"
    )
    assert fragment_fetches(browser) == 0  # drawn from the stream's event, not polled
    assert live_mode(browser) == "stream"
    assert browser.execute_script("return window.notReloaded") is True
    assert csp_violations(browser) == []  # the stream's origin is allowed, and CORS lets it


@pytest.mark.slow
def test_without_a_stream_server_the_page_polls(browser, live_server, topic, store, settings):
    settings.STREAM_PUBLIC_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    board = board_with_players(topic)
    open_board(browser, live_server, board)
    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: live_mode(d) == "poll", message="the page did not fall back to polling"
    )

    newcomer_scores(topic, board)

    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: standings(d)[:1] == [("1", "newcomer", "100,000")],
        message="the polled standings did not show the newly consumed event",
    )
    assert fragment_fetches(browser) > 0
    assert csp_violations(browser) == []
