"""Every public page as a visitor sees it: no piece of template syntax (a comment or a tag
the template engine did not recognise, such as a `{# #}` spread over two lines) reaches
the text of the page. tests/test_templates.py checks the template files themselves."""

from __future__ import annotations

import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from leaderboards.models import Board
from tests.leaderboards.test_tie_breaks import ENDS, MOMENTS, STARTS, Event, clear, feed

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE_SYNTAX = ("{#", "#}", "{%", "%}")


def shown_text(driver) -> str:
    """The title and the visible text of the page, as the visitor reads them."""
    return driver.title + "\n" + driver.execute_script("return document.body.innerText")


def test_no_template_syntax_reaches_a_public_page(browser, live_server, redis_client, topic):
    clear()
    plain = Board.objects.create(slug="cup", name="Cup", starts_at=STARTS, ends_at=ENDS)
    league = Board.objects.create(
        slug="league", name="League", starts_at=STARTS, ends_at=ENDS, bucket_size=2
    )
    players = [("ann", 1), ("bob", 2), ("cy", 3), ("dee", 4), ("eve", 5)]
    feed([Event(p, v, MOMENTS[i], 0, uuid.uuid4()) for i, (p, v) in enumerate(players)], 1)
    pages = {
        "the list of boards": "/",
        "a board": f"/boards/{plain.slug}/",
        "a board, a found player": f"/boards/{plain.slug}/?player=cy",
        "a board, a stranger": f"/boards/{plain.slug}/?player=stranger",
        "a board, past its last page": f"/boards/{plain.slug}/?offset=500",
        "a league": f"/boards/{league.slug}/",
        "a league's bucket": f"/boards/{league.slug}/?bucket=2&player=dee",
        "the standings fragment": f"/boards/{plain.slug}/entries-fragment/",
        "the player fragment": f"/boards/{plain.slug}/player-fragment/?player=cy",
        "a missing board (404)": "/boards/no-such-board/",
    }

    shown = {}
    for name, path in pages.items():
        browser.get(f"{live_server.url}{path}")
        WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.TAG_NAME, "body"))
        shown[name] = shown_text(browser)

    assert "dee" in shown["a league's bucket"]  # the pages did show their content
    assert "Page not found" in shown["a missing board (404)"]
    leaks = {
        name: [line for line in text.splitlines() if any(s in line for s in TEMPLATE_SYNTAX)]
        for name, text in shown.items()
    }
    assert {name: lines for name, lines in leaks.items() if lines} == {}
