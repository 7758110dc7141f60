"""The public pages: the live boards, a board's standings, finding a player, and the HTML
fragments the board page polls to update itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory, SeriesFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)
AT = START + timedelta(hours=1)

ROW = re.compile(
    r'<tr data-player-id="(?P<player>[^"]+)"[^>]*>\s*'
    r'<td class="num rank[^"]*">(?P<rank>\d+)</td>.*?'
    r'<td class="num score">(?P<score>[^<]+)</td>',
    re.S,
)


@pytest.fixture(autouse=True)
def _clean_redis(store):
    """No cached board of another test may answer for one of ours."""


def add_scores(scores: dict[str, int], *, at: datetime = AT, metric: str = "score") -> None:
    for player_id, delta in scores.items():
        ScoreDeltaFactory(player__external_id=player_id, metric=metric, delta=delta, created_at=at)


def rows(html: str) -> list[tuple[int, str, str]]:
    """(rank, player id, score as shown) of every table row in the page, in order."""
    return [(int(m["rank"]), m["player"], m["score"]) for m in ROW.finditer(html)]


def board_url(board, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return reverse("board-detail", args=[board.slug]) + (f"?{query}" if query else "")


# The list of boards: live, upcoming, final results


def test_index_lists_live_boards_then_upcoming_and_final_results(client):
    now = timezone.now()
    ending = BoardFactory(
        name="Ending Soon",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(hours=3, minutes=5),
    )
    BoardFactory(name="Forever", starts_at=now - timedelta(days=30), ends_at=None)
    BoardFactory(name="Last Week", starts_at=now - timedelta(days=14), ends_at=now - timedelta(7))
    BoardFactory(name="Next Week", starts_at=now + timedelta(days=7), ends_at=None)
    BoardFactory(name="Tomorrow", starts_at=now + timedelta(days=1), ends_at=None)
    BoardFactory(
        name="Spring Cup",
        starts_at=now - timedelta(days=60),
        ends_at=now - timedelta(days=30),
        finalized_at=now - timedelta(days=29),
    )

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert [board.name for board in response.context["boards"]] == ["Ending Soon", "Forever"]
    assert [board.name for board in response.context["upcoming"]] == ["Tomorrow", "Next Week"]
    assert [board.name for board in response.context["finals"]] == ["Spring Cup"]
    assert f'href="{board_url(ending)}"' in html
    assert "Last Week" not in html  # ended, its results not frozen yet
    live, rest = html.split('<h2 id="upcoming-heading">Upcoming</h2>')
    upcoming, finals = rest.split('<h2 id="finals-heading">Final results</h2>')
    assert live.count('<span class="badge badge-live">Live</span>') == 2
    assert upcoming.count('<span class="badge badge-upcoming">Upcoming</span>') == 2
    assert "Starts</dt><dd>in 23\xa0hours" in upcoming
    assert "Live</span>" not in upcoming + finals
    assert '<span class="badge badge-finalized">Final results</span>' in finals
    assert "in 3\xa0hours, 4\xa0minutes" in html or "in 3\xa0hours, 5\xa0minutes" in html
    assert "never" in html


def test_index_says_so_when_no_board_is_live(client):
    BoardFactory(starts_at=timezone.now() + timedelta(days=1))
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No board is live right now" in html
    assert "Upcoming</h2>" in html
    assert "Final results</h2>" not in html


def test_windows_are_shown_in_the_series_time_zone_and_labelled(client):
    tokyo = SeriesFactory(slug="tokyo", timezone="Asia/Tokyo")
    series_board = BoardFactory(
        series=tokyo,
        starts_at=datetime(2026, 3, 1, 15, tzinfo=UTC),  # 1 March 00:00 in Tokyo
        ends_at=datetime(2026, 3, 2, 15, tzinfo=UTC),
    )
    utc_board = BoardFactory(starts_at=datetime(2026, 3, 1, 15, tzinfo=UTC), ends_at=None)

    tokyo_html = client.get(board_url(series_board)).content.decode()
    utc_html = client.get(board_url(utc_board)).content.decode()

    assert '<dt>Window <span class="zone">(Asia/Tokyo)</span></dt>' in tokyo_html
    assert re.search(
        r'<time datetime="2026-03-02T00:00:00\+09:00">2 Mar 2026, 00:00</time>', tokyo_html
    )
    assert re.search(
        r'<time datetime="2026-03-03T00:00:00\+09:00">3 Mar 2026, 00:00</time>', tokyo_html
    )
    assert '<dt>Window <span class="zone">(UTC)</span></dt>' in utc_html
    assert ">1 Mar 2026, 15:00</time>" in utc_html


def test_a_board_not_started_yet_says_upcoming_not_live(client):
    board = BoardFactory(starts_at=timezone.now() + timedelta(hours=5))

    html = client.get(board_url(board)).content.decode()

    assert '<span class="badge badge-upcoming">Upcoming</span></h1>' in html
    assert "This board has not started yet: it opens in 4\xa0hours" in html
    assert "data-live-status" not in html
    assert "badge-live" not in html


def test_a_finalised_board_shows_final_results_and_stops_polling(client):
    now = timezone.now()
    board = BoardFactory(
        starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1), finalized_at=now
    )

    html = client.get(board_url(board)).content.decode()

    assert '<span class="badge badge-finalized">Final results</span></h1>' in html
    assert '<h2 id="standings-heading">Final results</h2>' in html
    assert "data-live-status" not in html
    assert "entries-fragment" not in html


def test_a_live_board_says_live(client):
    board = BoardFactory(starts_at=timezone.now() - timedelta(hours=1))

    html = client.get(board_url(board)).content.decode()

    assert '<span class="badge badge-live">Live</span></h1>' in html
    assert '<h2 id="standings-heading">Standings</h2>' in html
    assert "data-live-status" in html


def test_hostile_board_and_player_names_stay_escaped_on_every_page(client):
    hostile = '<script>alert("x")</script>'
    series = SeriesFactory(slug="s", name=hostile)
    board = BoardFactory(name=hostile, series=series, starts_at=timezone.now() - timedelta(1))
    BoardFactory(name=hostile, starts_at=timezone.now() + timedelta(days=1))
    PlayerFactory(external_id="p1", display_name=hostile)
    add_scores({"p1": 5}, at=timezone.now())

    pages = [
        client.get("/").content.decode(),
        client.get(board_url(board)).content.decode(),
        client.get(board_url(board, player="p1")).content.decode(),
    ]

    for html in pages:
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


# A board's standings


def test_board_page_shows_entries_in_rank_order_with_ties(client):
    board = BoardFactory(name="Weekly Cup")
    add_scores({"dora": 30, "bob": 40, "alice": 50, "carol": 40})
    add_scores({"alice": 1_000}, metric="laps")  # another metric: not on this board
    add_scores({"erin": 99}, at=START - timedelta(seconds=1))  # before the window

    response = client.get(board_url(board))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1>Weekly Cup <span class="badge badge-live">Live</span></h1>' in html
    # Competition ranking; a tie is ordered by player id.
    assert rows(html) == [
        (1, "alice", "50"),
        (2, "bob", "40"),
        (2, "carol", "40"),
        (4, "dora", "30"),
    ]
    assert "Showing 1\N{EN DASH}4 of 4 players" in html


def test_board_page_shows_display_names_escaped_and_big_scores_grouped(client):
    board = BoardFactory()
    PlayerFactory(external_id="p1", display_name="<b>Robert'); DROP</b>")
    add_scores({"p1": 1_234_567})

    html = client.get(board_url(board)).content.decode()

    assert "&lt;b&gt;Robert&#x27;); DROP&lt;/b&gt;" in html
    assert "<b>Robert" not in html
    assert rows(html) == [(1, "p1", "1,234,567")]


def test_board_page_of_a_board_without_scores_says_so(client):
    board = BoardFactory()
    html = client.get(board_url(board)).content.decode()
    assert "No scores yet" in html
    assert rows(html) == []


@pytest.mark.django_db(transaction=True)
def test_board_page_is_served_from_the_redis_cache(client, store):
    board = BoardFactory()
    add_scores({"a": 5, "b": 7})

    html = client.get(board_url(board)).content.decode()

    assert store.state(board) == "ready"
    assert rows(html) == [(1, "b", "7"), (2, "a", "5")]
    assert store.top(board, 0, 10).count == 2


def test_board_page_pages_through_the_board(client):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(60)})

    first = client.get(board_url(board)).content.decode()
    assert [player for _, player, _ in rows(first)] == [f"p{i:02d}" for i in range(25)]
    assert f'rel="next" href="{board_url(board, offset=25)}"' in first
    assert 'rel="prev"' not in first

    middle = client.get(board_url(board, offset=25)).content.decode()
    assert [rank for rank, _, _ in rows(middle)] == list(range(26, 51))
    assert f'rel="prev" href="{board_url(board, offset=0)}"' in middle
    assert f'rel="next" href="{board_url(board, offset=50)}"' in middle
    assert "Showing 26\N{EN DASH}50 of 60 players" in middle

    last = client.get(board_url(board, offset=50)).content.decode()
    assert [rank for rank, _, _ in rows(last)] == list(range(51, 61))
    assert f'rel="prev" href="{board_url(board, offset=25)}"' in last
    assert 'rel="next"' not in last


def test_paging_links_keep_the_player_that_was_found(client):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(30)})
    html = client.get(board_url(board, player="p03")).content.decode()
    assert f'rel="next" href="{board_url(board)}?player=p03&amp;offset=25"' in html


@pytest.mark.parametrize("offset", ["abc", "-5", ""])
def test_a_mangled_offset_shows_the_first_page(client, offset):
    board = BoardFactory()
    add_scores({"a": 1})
    response = client.get(board_url(board, offset=offset))
    assert response.status_code == 200
    assert rows(response.content.decode()) == [(1, "a", "1")]


def test_an_offset_past_the_end_leads_back_to_the_top(client):
    board = BoardFactory()
    add_scores({"a": 1, "b": 2})
    html = client.get(board_url(board, offset=500)).content.decode()
    assert rows(html) == []
    assert "No players on this page: the board has 2." in html
    assert f'rel="prev" href="{board_url(board, offset=475)}"' in html


def test_board_page_is_responsive_accessible_and_live(client):
    board = BoardFactory()
    add_scores({"a": 1})
    html = client.get(board_url(board)).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<th scope="col" class="num">Rank</th>' in html
    assert '<label for="id_player">Player id</label>' in html
    assert re.search(
        r'<div id="entries" aria-live="polite"\s+data-live-url="'
        + re.escape(reverse("board-entries-fragment", args=[board.slug])),
        html,
    )
    assert "/static/css/site.css" in html
    assert "/static/js/live.js" in html
    assert finders.find("css/site.css")
    assert finders.find("js/live.js")


def test_board_page_follows_the_top_of_the_board_down_to_the_page_shown(client, settings):
    settings.STREAM_PUBLIC_URL = "https://streams.example.com"
    board = BoardFactory(slug="cup")
    add_scores({f"p{i}": i for i in range(60)})

    first = client.get(board_url(board)).content.decode()
    third = client.get(board_url(board, offset=50, player="p7")).content.decode()

    stream = "https://streams.example.com/api/v1/leaderboards/cup/stream/"
    assert f'data-stream-url="{stream}?limit=25" data-stream-event="entries"' in first
    assert 'data-stream-offset="0"' in first
    assert f'data-stream-url="{stream}?limit=75"' in third
    assert 'data-stream-offset="50"' in third
    assert 'data-highlight="p7"' in third
    player = "https://streams.example.com/api/v1/leaderboards/cup/players/p7/stream/"
    assert f'data-stream-url="{player}" data-stream-event="rank"' in third


def test_pages_past_the_streamed_top_100_and_league_buckets_poll(client):
    board = BoardFactory(slug="cup")
    league = BoardFactory(slug="league", bucket_size=10)
    add_scores({f"p{i}": i for i in range(120)})

    deep = client.get(board_url(board, offset=100)).content.decode()
    buckets = client.get(board_url(league)).content.decode()
    same_origin = client.get(board_url(board)).content.decode()

    for html in (deep, buckets):
        assert "data-live-url=" in html
        assert "data-stream-url" not in html
    # STREAM_PUBLIC_URL empty: the stream server behind this same origin.
    assert 'data-stream-url="/api/v1/leaderboards/cup/stream/?limit=25"' in same_origin


# Finding a player


def test_find_player_shows_their_rank_and_neighbours(client):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(20)})

    response = client.get(board_url(board, player="p10"))

    html = response.content.decode()
    assert "<strong>P10</strong> is ranked <strong>#11</strong>" in html
    around = [player for _, player, _ in rows(html.split('id="entries"')[0])]
    assert around == [f"p{i:02d}" for i in range(5, 16)]
    assert '<tr data-player-id="p10" class="is-me" aria-current="true">' in html
    fragment = reverse("board-player-fragment", args=[board.slug]) + "?player=p10"
    assert f'data-live-url="{fragment}"' in html


def test_find_player_near_the_top_shows_fewer_neighbours_above(client):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(20)})
    html = client.get(board_url(board, player=" p01 ")).content.decode()
    around = [player for _, player, _ in rows(html.split('id="entries"')[0])]
    assert around == [f"p{i:02d}" for i in range(7)]


@pytest.mark.parametrize("player_id", ["nobody", "laps-only"])
def test_find_player_without_a_score_says_no_score_yet(client, player_id):
    board = BoardFactory()
    add_scores({"a": 1})
    add_scores({"laps-only": 3}, metric="laps")

    html = client.get(board_url(board, player=player_id)).content.decode()

    assert f"Player <strong>{player_id}</strong> has no score on this board yet." in html
    assert rows(html) == [(1, "a", "1")]  # the standings are still there


def test_find_player_refuses_an_overlong_id(client):
    board = BoardFactory()
    html = client.get(board_url(board, player="x" * 65)).content.decode()
    assert 'aria-invalid="true"' in html
    assert "at most 64 characters" in html
    assert "board-player-fragment" not in html


# The fragments the page polls


def test_entries_fragment_is_the_standings_alone_and_follows_new_scores(client):
    board = BoardFactory()
    add_scores({f"p{i:02d}": 100 - i for i in range(30)})
    url = reverse("board-entries-fragment", args=[board.slug])

    response = client.get(url, {"offset": 25})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert [rank for rank, _, _ in rows(html)] == [26, 27, 28, 29, 30]
    # Paging links lead to the page, not to the fragment.
    assert f'rel="prev" href="{board_url(board, offset=0)}"' in html

    add_scores({"newcomer": 1_000})
    html = client.get(url).content.decode()
    assert rows(html)[0] == (1, "newcomer", "1,000")


def test_player_fragment_shows_the_neighbourhood_alone(client):
    board = BoardFactory()
    add_scores({"a": 3, "b": 2, "c": 1})
    url = reverse("board-player-fragment", args=[board.slug])

    html = client.get(url, {"player": "b"}).content.decode()
    assert "<html" not in html
    assert rows(html) == [(1, "a", "3"), (2, "b", "2"), (3, "c", "1")]

    html = client.get(url, {"player": "zed"}).content.decode()
    assert "has no score on this board yet" in html


@pytest.mark.parametrize(
    "url",
    [
        "/boards/no-such-board/",
        "/boards/no-such-board/entries-fragment/",
        "/boards/no-such-board/player-fragment/?player=a",
    ],
)
def test_unknown_board_is_a_404_page(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_pages_only_answer_get(client):
    board = BoardFactory()
    assert client.post(board_url(board)).status_code == 405


def test_board_page_marks_a_tournament_and_its_tie_break(client):
    cup_board = BoardFactory(join_required=True, max_participants=64, max_attempts=3)
    open_board = BoardFactory(tie_break="earliest")

    cup = client.get(board_url(cup_board)).content.decode()
    other = client.get(board_url(open_board)).content.decode()

    assert "Tournament" in cup
    assert "join to play · up to 64 players · the first 3 attempts count" in cup
    assert "Tournament" not in other
    assert "ties go to whoever got there first" in other
