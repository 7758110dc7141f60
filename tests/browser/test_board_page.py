"""The board pages in a real browser: what they show, live updates from consumed Kafka
events without a reload, finding a player, and the layout on a phone."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import csp_violations, emulate_phone, screenshot
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory
from tests.ingestion.kafka_helpers import consume_until_idle, produce, score_events

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_UPDATE_TIMEOUT = 20


def add_scores(scores: dict[str, int]) -> None:
    for player_id, delta in scores.items():
        ScoreDeltaFactory(
            player__external_id=player_id,
            delta=delta,
            created_at=datetime.now(UTC) - timedelta(minutes=5),
        )


def standings(driver, region: str = "entries") -> list[tuple[str, str, str]]:
    """(rank, player id, score) of each row of a table in the page, as shown. Read in one
    script, so a live update swapping the rows cannot strand the test on stale elements."""
    rows = driver.execute_script(
        """
        return Array.from(document.querySelectorAll("#" + arguments[0] + " tbody tr")).map(
          (row) => [
            row.querySelector(".rank").textContent.trim(),
            row.dataset.playerId,
            row.querySelector(".score").textContent.trim(),
          ]
        );
        """,
        region,
    )
    return [tuple(row) for row in rows]


def text_of(driver, selector: str) -> str | None:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.textContent.trim();",
        selector,
    )


def open_board(driver, live_server, board, query: str = "") -> None:
    driver.get(f"{live_server.url}/boards/{board.slug}/{query}")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#entries"))


def test_board_page_shows_the_standings(browser, live_server, store):
    board = BoardFactory(name="Spring Cup")
    add_scores({"ann": 30, "ben": 50, "cat": 50, "dan": 10})

    open_board(browser, live_server, board)

    assert browser.title.startswith("Spring Cup")
    # The name, then the badge saying where the window stands.
    assert browser.find_element(By.TAG_NAME, "h1").text == "Spring Cup Live"
    assert browser.find_element(By.CSS_SELECTOR, "h1 .badge-live").text == "Live"
    assert standings(browser) == [
        ("1", "ben", "50"),
        ("1", "cat", "50"),
        ("3", "ann", "30"),
        ("4", "dan", "10"),
    ]
    browser.get(f"{live_server.url}/")
    browser.find_element(By.LINK_TEXT, "Spring Cup").click()
    WebDriverWait(browser, 10).until(EC.url_to_be(f"{live_server.url}/boards/{board.slug}/"))


@pytest.mark.slow
def test_board_page_changes_when_new_events_are_consumed(browser, live_server, topic, store):
    board = BoardFactory()
    events = list(score_events(40, players=8))
    produce(((key, value) for key, value, _, _ in events), topic)
    consume_until_idle(topic)

    open_board(browser, live_server, board, "?player=p3")
    before = standings(browser)
    assert len(before) == 8
    assert store.state(board) == "ready"  # the page built the Redis board; the consumer feeds it
    rank_before = text_of(browser, "#player-result .is-me .rank")
    browser.execute_script("window.notReloaded = true")

    at = datetime.now(UTC) - timedelta(minutes=1)
    newcomer = {
        "event_id": str(uuid.uuid4()),
        "player_id": "newcomer",
        "delta": 100_000,
        "created_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    produce([(b"newcomer", json.dumps(newcomer).encode())], topic)
    results = consume_until_idle(topic)
    assert "applied" in {result.boards.get(board.pk) for result in results}  # to Redis

    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: standings(d)[:1] == [("1", "newcomer", "100,000")],
        message="the standings did not show the newly consumed event",
    )
    assert standings(browser)[1:] == [(str(int(r) + 1), p, s) for r, p, s in before]
    WebDriverWait(browser, LIVE_UPDATE_TIMEOUT).until(
        lambda d: text_of(d, "#player-result .is-me .rank") == str(int(rank_before) + 1),
        message="the found player's rank did not move",
    )
    assert browser.execute_script("return window.notReloaded") is True
    assert text_of(browser, "[data-live-status]") == "Live"
    assert csp_violations(browser) == []  # the live page works under its policy


def test_the_pages_policy_is_in_force(browser, live_server, store):
    board = BoardFactory()
    add_scores({"a": 5})
    open_board(browser, live_server, board)

    browser.execute_script(
        """
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.head.appendChild(script);
        """
    )

    WebDriverWait(browser, 5).until(lambda d: csp_violations(d))
    assert browser.execute_script("return window.injected") is None
    assert csp_violations(browser) == ["script-src-elem inline"]


def test_find_a_player_shows_their_neighbours(browser, live_server, store):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(30)})
    open_board(browser, live_server, board)

    field = browser.find_element(By.ID, "id_player")
    field.send_keys("p20")
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    WebDriverWait(browser, 10).until(EC.url_contains("?player=p20"))
    WebDriverWait(browser, 10).until(lambda d: text_of(d, "#player-result .player-summary"))

    summary = text_of(browser, "#player-result .player-summary")
    assert " ".join(summary.split()) == "P20 is ranked #21 with a score of 80."
    assert [player for _, player, _ in standings(browser, "player-result")] == [
        f"p{i:02d}" for i in range(15, 26)
    ]

    field = browser.find_element(By.ID, "id_player")
    field.clear()
    field.send_keys("stranger")
    field.submit()
    WebDriverWait(browser, 10).until(EC.url_contains("?player=stranger"))
    WebDriverWait(browser, 10).until(
        lambda d: "has no score on this board yet" in (text_of(d, "#player-result") or "")
    )


def test_pages_fit_a_phone_without_sideways_scrolling(browser, live_server, store):
    board = BoardFactory(name="Grand Autumn Championship of Extremely Long Board Names")
    PlayerFactory(external_id="x" * 64, display_name="")
    PlayerFactory(external_id="long", display_name="Maximiliane Alexandra von Hohenzollern")
    add_scores({f"player-{i}": 1_000_000_000 - i * 12_345 for i in range(30)})
    add_scores({"x" * 64: 2_000_000_000, "long": 1_500_000_000})

    open_board(browser, live_server, board, "?player=long")
    screenshot(browser, "board-desktop")

    emulate_phone(browser)
    for name, path in (("index", "/"), ("board", f"/boards/{board.slug}/?player=long")):
        browser.get(f"{live_server.url}{path}")
        assert browser.execute_script("return window.innerWidth") == 375
        scroll_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert scroll_width <= 375, f"{path} scrolls sideways on a phone ({scroll_width}px)"
        screenshot(browser, f"{name}-phone")
