"""The board API: list/create/detail, entries, a player's rank, friends' ranks, standings.

Ranking tests run twice, once served from Redis and once from PostgreSQL with Redis down,
and must give the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from leaderboards.cache.store import get_store, redis_breaker_reset, reset_store
from leaderboards.models import Board
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)
AT = START + timedelta(hours=1)


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def redis_down(settings):
    """Point the store at a closed port; reads must fall back to PostgreSQL."""
    redis_breaker_reset()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    reset_store()
    yield
    reset_store()


@pytest.fixture(
    params=[
        # A board build takes its snapshot in a REPEATABLE READ transaction of its own, which
        # it cannot do inside the test's wrapping transaction.
        pytest.param("redis", marks=pytest.mark.django_db(transaction=True)),
        "postgresql",
    ]
)
def source(request):
    """Where board reads are served from; every ranking test passes through both."""
    if request.param == "redis":
        request.getfixturevalue("store")
    else:
        request.getfixturevalue("redis_down")
    return request.param


def add_score(player_id: str, delta: int, *, at: datetime = AT, metric: str = "score"):
    ScoreDeltaFactory(player__external_id=player_id, metric=metric, delta=delta, created_at=at)


def add_scores(scores: dict[str, int], **kwargs) -> None:
    for player_id, delta in scores.items():
        add_score(player_id, delta, **kwargs)


def ranks_of(results: list[dict]) -> list[tuple[int, str, int]]:
    return [(r["rank"], r["player_id"], r["score"]) for r in results]


def assert_served_from(source: str, board: Board) -> None:
    if source == "redis":
        assert get_store().state(board) == "ready"


# -- list, create, detail -----------------------------------------------------------------


def test_board_list_is_paginated_and_shows_status_and_links(client):
    now = datetime.now(UTC)
    BoardFactory(slug="live", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
    BoardFactory(slug="ended", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=8))
    BoardFactory(slug="upcoming", starts_at=now + timedelta(days=1))

    response = client.get("/api/v1/leaderboards/?limit=2")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["previous"] is None
    assert "offset=2" in body["next"]
    assert [b["slug"] for b in body["results"]] == ["upcoming", "live"]
    live = body["results"][1]
    assert live["status"] == "live"
    assert live["url"] == "http://testserver/api/v1/leaderboards/live/"
    assert live["entries_url"] == "http://testserver/api/v1/leaderboards/live/entries/"
    assert set(live) >= {"name", "metric", "starts_at", "ends_at", "aggregation", "sort_order"}
    rest = client.get(body["next"]).json()
    assert [(b["slug"], b["status"]) for b in rest["results"]] == [("ended", "ended")]


def test_board_create_without_an_api_key_is_refused(client):
    response = client.post(
        "/api/v1/leaderboards/",
        {"slug": "x", "name": "X", "starts_at": "2026-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code in (401, 403)
    assert not Board.objects.exists()


def test_board_create_with_an_api_key_applies_defaults(keyed_client):
    response = keyed_client.post(
        "/api/v1/leaderboards/",
        {"slug": "all-time", "name": "All time", "starts_at": "2026-01-01T00:00:00+02:00"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "all-time"
    assert body["metric"] == "score"
    assert body["aggregation"] == "sum"
    assert body["sort_order"] == "desc"
    assert body["ends_at"] is None
    assert body["entries_url"].endswith("/api/v1/leaderboards/all-time/entries/")
    board = Board.objects.get(slug="all-time")
    assert board.starts_at == datetime(2025, 12, 31, 22, tzinfo=UTC)


def test_board_create_takes_every_field(keyed_client):
    response = keyed_client.post(
        "/api/v1/leaderboards/",
        {
            "slug": "fastest-lap",
            "name": "Fastest lap",
            "metric": "lap_ms",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2026-02-01T00:00:00Z",
            "aggregation": "min",
            "sort_order": "asc",
            "tie_break": "earliest",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["tie_break"] == "earliest"
    board = Board.objects.get(slug="fastest-lap")
    assert (board.metric, board.aggregation, board.sort_order, board.tie_break) == (
        "lap_ms",
        "min",
        "asc",
        "earliest",
    )
    assert board.ends_at == datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "taken"}, "slug"),
        ({"slug": "not a slug"}, "slug"),
        ({"name": ""}, "name"),
        ({"ends_at": "2026-01-01T00:00:00Z"}, "ends_at"),
        ({"ends_at": "2025-12-31T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-01-01T00:00:00"}, "starts_at"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"starts_at": None}, "starts_at"),
        ({"aggregation": "median"}, "aggregation"),
        ({"sort_order": "sideways"}, "sort_order"),
        ({"tie_break": "coin_toss"}, "tie_break"),
        ({"metric": "has spaces"}, "metric"),
        ({"metric": "m" * 65}, "metric"),
    ],
)
def test_board_create_rejects_bad_input_with_field_errors(keyed_client, change, field):
    BoardFactory(slug="taken")
    data = {"slug": "new", "name": "New", "starts_at": "2026-01-01T00:00:00Z", **change}

    response = keyed_client.post("/api/v1/leaderboards/", data, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Board.objects.filter(slug="new").exists()


def test_board_create_explains_a_naive_time(keyed_client):
    response = keyed_client.post(
        "/api/v1/leaderboards/",
        {"slug": "new", "name": "New", "starts_at": "2026-01-01T00:00:00"},
        format="json",
    )

    assert response.json() == {"starts_at": ["Give a time zone offset, e.g. 2026-01-01T00:00:00Z."]}


def test_board_detail_shows_one_board(client):
    BoardFactory(slug="weekly", name="Weekly", aggregation="max")

    response = client.get("/api/v1/leaderboards/weekly/")

    assert response.status_code == 200
    assert response.json()["name"] == "Weekly"
    assert response.json()["aggregation"] == "max"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leaderboards/nope/",
        "/api/v1/leaderboards/nope/entries/",
        "/api/v1/leaderboards/nope/players/p1/",
    ],
)
def test_unknown_board_is_404(client, path):
    assert client.get(path).status_code == 404


# -- entries ------------------------------------------------------------------------------


def test_entries_use_competition_ranks_with_ties_ordered_by_player_id(client, source):
    board = BoardFactory(slug="b")
    add_scores({"dora": 30, "carl": 40, "bob": 40, "anna": 50})

    response = client.get("/api/v1/leaderboards/b/entries/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert (body["next"], body["previous"]) == (None, None)
    assert ranks_of(body["results"]) == [
        (1, "anna", 50),
        (2, "bob", 40),
        (2, "carl", 40),
        (4, "dora", 30),
    ]
    assert body["results"][0] == {
        "rank": 1,
        "player_id": "anna",
        "display_name": "Anna",
        "score": 50,
    }
    assert_served_from(source, board)


def test_entries_pages_keep_tie_ranks_and_link_next_and_previous(client, source):
    BoardFactory(slug="b")
    add_scores({"p1": 50, "p2": 40, "p3": 40, "p4": 40, "p5": 30})

    first = client.get("/api/v1/leaderboards/b/entries/?limit=2").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/leaderboards/b/entries/?limit=2&offset=2"
    assert ranks_of(second["results"]) == [(2, "p3", 40), (2, "p4", 40)]
    assert second["previous"] == "http://testserver/api/v1/leaderboards/b/entries/?limit=2"
    assert ranks_of(third["results"]) == [(5, "p5", 30)]
    assert third["next"] is None
    assert third["previous"].endswith("entries/?limit=2&offset=2")
    assert {page["count"] for page in (first, second, third)} == {5}


def test_entries_past_the_end_are_empty_but_counted(client, source):
    BoardFactory(slug="b")
    add_scores({"p1": 5, "p2": 4})

    body = client.get("/api/v1/leaderboards/b/entries/?offset=10").json()

    assert body["count"] == 2
    assert body["results"] == []
    assert body["next"] is None
    assert body["previous"] == "http://testserver/api/v1/leaderboards/b/entries/?limit=50"


def test_entries_only_count_deltas_of_the_board_metric_inside_its_window(client, source):
    BoardFactory(slug="jan", starts_at=START, ends_at=START + timedelta(days=31))
    add_score("inside", 10, at=START)
    add_score("inside", 5, at=START + timedelta(days=31) - timedelta(milliseconds=1))
    add_score("before", 100, at=START - timedelta(milliseconds=1))
    add_score("after", 100, at=START + timedelta(days=31))
    add_score("other-metric", 100, metric="kills")

    body = client.get("/api/v1/leaderboards/jan/entries/").json()

    assert ranks_of(body["results"]) == [(1, "inside", 15)]


@pytest.mark.parametrize(
    ("aggregation", "sort_order", "expected"),
    [
        ("max", "desc", [(1, "a", 9), (2, "b", 7)]),
        ("min", "asc", [(1, "a", 1), (2, "b", 2)]),
        ("sum", "asc", [(1, "b", 9), (2, "a", 10)]),
    ],
)
def test_entries_follow_the_board_aggregation_and_order(
    client, source, aggregation, sort_order, expected
):
    BoardFactory(slug="b", aggregation=aggregation, sort_order=sort_order)
    for delta in (1, 9):
        add_score("a", delta, at=AT + timedelta(minutes=delta))
    for delta in (2, 7):
        add_score("b", delta, at=AT + timedelta(minutes=delta))

    body = client.get("/api/v1/leaderboards/b/entries/").json()

    assert ranks_of(body["results"]) == expected


@pytest.mark.django_db(transaction=True)
def test_a_last_value_board_is_cached_and_ranks_the_latest_values(client, store):
    board = BoardFactory(slug="b", aggregation="last")
    add_score("a", 10, at=AT)
    add_score("a", 3, at=AT + timedelta(minutes=1))
    add_score("b", 5, at=AT)

    body = client.get("/api/v1/leaderboards/b/entries/").json()

    assert ranks_of(body["results"]) == [(1, "b", 5), (2, "a", 3)]
    assert store.state(board) == "ready"


def test_reads_succeed_with_redis_down(client, redis_down):
    BoardFactory(slug="b")
    add_scores({"a": 1})

    responses = [
        client.get("/api/v1/leaderboards/b/entries/"),
        client.get("/api/v1/leaderboards/b/players/a/?around=1"),
        client.post("/api/v1/leaderboards/b/ranks/", {"player_ids": ["a"]}, format="json"),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=x", "offset=-1", "offset=x", "limit=-5"],
)
def test_entries_reject_a_bad_limit_or_offset(client, query):
    BoardFactory(slug="b")

    response = client.get(f"/api/v1/leaderboards/b/entries/?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_entries_accept_the_largest_page(client, source):
    BoardFactory(slug="b")
    add_scores({"a": 1})

    response = client.get("/api/v1/leaderboards/b/entries/?limit=1000&offset=0")

    assert response.status_code == 200
    assert response.json()["count"] == 1


# -- a player's rank ----------------------------------------------------------------------


def test_player_rank_and_score(client, source):
    board = BoardFactory(slug="b")
    add_scores({"anna": 50, "bob": 40, "carl": 40, "dora": 30})

    response = client.get("/api/v1/leaderboards/b/players/carl/")

    assert response.status_code == 200
    assert response.json() == {"player_id": "carl", "display_name": "Carl", "rank": 2, "score": 40}
    assert_served_from(source, board)


def test_player_rank_with_neighbours_around(client, source):
    BoardFactory(slug="b")
    add_scores({"anna": 50, "bob": 40, "carl": 40, "dora": 30, "emil": 20})

    body = client.get("/api/v1/leaderboards/b/players/carl/?around=1").json()

    assert body["rank"] == 2
    assert ranks_of(body["around"]) == [(2, "bob", 40), (2, "carl", 40), (4, "dora", 30)]
    assert body["around"][0] == {"rank": 2, "player_id": "bob", "display_name": "Bob", "score": 40}


def test_an_earliest_board_ranks_ties_by_who_reached_the_score_first(client, source):
    BoardFactory(slug="b", tie_break="earliest")
    add_score("zoe", 30, at=AT)
    add_score("bob", 40, at=AT + timedelta(minutes=2))
    add_score("anna", 40, at=AT + timedelta(minutes=3))  # reached 40 after bob
    add_score("carl", 30, at=AT + timedelta(minutes=1))
    add_score("carl", 10, at=AT + timedelta(minutes=4))  # 40, reached last

    entries = client.get("/api/v1/leaderboards/b/entries/").json()["results"]
    me = client.get("/api/v1/leaderboards/b/players/anna/?around=1").json()
    ranks = client.post(
        "/api/v1/leaderboards/b/ranks/", {"player_ids": ["zoe", "carl"]}, format="json"
    ).json()["results"]

    assert ranks_of(entries) == [(1, "bob", 40), (2, "anna", 40), (3, "carl", 40), (4, "zoe", 30)]
    assert ranks_of(me["around"]) == [(1, "bob", 40), (2, "anna", 40), (3, "carl", 40)]
    assert me["rank"] == 2
    assert ranks_of(ranks) == [(3, "carl", 40), (4, "zoe", 30)]


def test_player_neighbours_stop_at_the_top_of_the_board(client, source):
    BoardFactory(slug="b")
    add_scores({"anna": 50, "bob": 40, "carl": 30})

    body = client.get("/api/v1/leaderboards/b/players/anna/?around=5").json()

    assert ranks_of(body["around"]) == [(1, "anna", 50), (2, "bob", 40), (3, "carl", 30)]


def test_player_around_zero_is_just_the_player(client, source):
    BoardFactory(slug="b")
    add_scores({"anna": 50, "bob": 40})

    body = client.get("/api/v1/leaderboards/b/players/bob/?around=0").json()

    assert ranks_of(body["around"]) == [(2, "bob", 40)]


def test_player_without_a_score_on_the_board_is_404_with_a_message(client, source):
    BoardFactory(slug="b")
    add_scores({"anna": 50})
    PlayerFactory(external_id="idle")

    response = client.get("/api/v1/leaderboards/b/players/idle/?around=3")

    assert response.status_code == 404
    assert response.json() == {"detail": "Player 'idle' has no score on board 'b'."}


def test_player_ids_with_a_slash_are_found(client, source):
    BoardFactory(slug="b")
    add_scores({"eu/42": 7})

    response = client.get("/api/v1/leaderboards/b/players/eu/42/")

    assert response.status_code == 200
    assert response.json()["player_id"] == "eu/42"


@pytest.mark.parametrize("around", ["-1", "101", "x"])
def test_player_around_out_of_range_is_400(client, around):
    BoardFactory(slug="b")

    response = client.get(f"/api/v1/leaderboards/b/players/a/?around={around}")

    assert response.status_code == 400
    assert "around" in response.json()


# -- friends' ranks -----------------------------------------------------------------------


def test_ranks_of_friends_come_best_first_with_missing_ids_listed(client, source):
    board = BoardFactory(slug="b")
    add_scores({"anna": 50, "bob": 40, "carl": 40, "dora": 30})

    response = client.post(
        "/api/v1/leaderboards/b/ranks/",
        {"player_ids": ["dora", "ghost", "carl", "anna", "carl", "nobody"]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert ranks_of(body["results"]) == [(1, "anna", 50), (2, "carl", 40), (4, "dora", 30)]
    assert body["results"][0]["display_name"] == "Anna"
    assert body["missing"] == ["ghost", "nobody"]
    assert_served_from(source, board)


def test_ranks_need_no_api_key(client, source):
    BoardFactory(slug="b")

    ranks = client.post("/api/v1/leaderboards/b/ranks/", {"player_ids": ["a"]}, format="json")

    assert ranks.status_code == 200
    assert ranks.json() == {"results": [], "missing": ["a"]}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"player_ids": []},
        {"player_ids": "anna"},
        {"player_ids": [f"p{i}" for i in range(1001)]},
        {"player_ids": ["x" * 65]},
        {"player_ids": [None]},
    ],
)
def test_ranks_reject_a_bad_player_list(client, body):
    BoardFactory(slug="b")

    response = client.post("/api/v1/leaderboards/b/ranks/", body, format="json")

    assert response.status_code == 400
    assert "player_ids" in response.json()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("", "This field may not be blank."),
        ("x" * 65, "Ensure this field has no more than 64 characters."),
        ("a\x00b", "Null characters are not allowed."),
        (7, None),  # a number is read as its text, as by any CharField
    ],
)
def test_ranks_name_the_bad_item_in_a_player_list(client, item, message):
    BoardFactory(slug="b")

    response = client.post(
        "/api/v1/leaderboards/b/ranks/", {"player_ids": ["ok", item]}, format="json"
    )

    if message is None:
        assert response.status_code == 200
        assert response.json()["missing"] == ["ok", "7"]
    else:
        assert response.status_code == 400
        assert response.json() == {"player_ids": {"1": [message]}}


# -- standings over any range -------------------------------------------------------------


def test_standings_cover_from_inclusive_to_exclusive(client):
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)
    add_score("at-start", 10, at=start)
    add_score("last-ms", 20, at=end - timedelta(milliseconds=1))
    add_score("at-end", 99, at=end)
    add_score("before", 99, at=start - timedelta(milliseconds=1))

    response = client.get(
        "/api/v1/standings/",
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert ranks_of(body["results"]) == [(1, "last-ms", 20), (2, "at-start", 10)]
    assert body["results"][0]["display_name"] == "Last Ms"


def test_standings_without_to_run_to_now(client):
    add_score("old", 5, at=datetime(2026, 1, 1, tzinfo=UTC))
    add_score("new", 7, at=datetime(2026, 6, 1, tzinfo=UTC))

    body = client.get("/api/v1/standings/", {"from": "2026-02-01T00:00:00Z"}).json()

    assert ranks_of(body["results"]) == [(1, "new", 7)]


def test_standings_take_metric_aggregation_and_order(client):
    for player_id, deltas in {"a": (5, 1), "b": (3, 3), "c": (2, 9)}.items():
        for i, delta in enumerate(deltas):
            add_score(player_id, delta, at=AT + timedelta(minutes=i), metric="lap_ms")
    add_score("z", 1, at=AT)  # metric "score": not counted

    body = client.get(
        "/api/v1/standings/",
        {"metric": "lap_ms", "from": "2026-01-01T00:00:00Z", "aggregation": "min", "order": "asc"},
    ).json()

    assert ranks_of(body["results"]) == [(1, "a", 1), (2, "c", 2), (3, "b", 3)]


def test_standings_take_a_tie_break(client):
    add_score("late", 8, at=AT + timedelta(minutes=5))
    add_score("early", 8, at=AT)
    query = {"from": "2026-01-01T00:00:00Z"}

    by_id = client.get("/api/v1/standings/", query).json()["results"]
    earliest = client.get("/api/v1/standings/", {**query, "tie_break": "earliest"}).json()

    assert ranks_of(by_id) == [(1, "early", 8), (1, "late", 8)]
    assert ranks_of(earliest["results"]) == [(1, "early", 8), (2, "late", 8)]


def test_standings_page_with_ties_and_links(client):
    add_scores({"p1": 9, "p2": 8, "p3": 8})

    body = client.get(
        "/api/v1/standings/", {"from": "2026-01-01T00:00:00Z", "limit": 1, "offset": 2}
    ).json()

    assert body["count"] == 3
    assert ranks_of(body["results"]) == [(2, "p3", 8)]
    assert body["next"] is None
    assert "offset=1" in body["previous"]
    assert "from=2026-01-01T00%3A00%3A00Z" in body["previous"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "aggregation": "avg"}, "aggregation"),
        ({"from": "2026-01-01T00:00:00Z", "order": "up"}, "order"),
        ({"from": "2026-01-01T00:00:00Z", "tie_break": "random"}, "tie_break"),
        ({"from": "2026-01-01T00:00:00Z", "metric": "a b"}, "metric"),
        ({"from": "2026-01-01T00:00:00Z", "limit": "0"}, "limit"),
    ],
)
def test_standings_reject_bad_parameters(client, query, field):
    response = client.get("/api/v1/standings/", query)

    assert response.status_code == 400
    assert field in response.json()


def test_a_player_id_with_a_nul_is_simply_not_found(client):
    BoardFactory(slug="b")

    response = client.get("/api/v1/leaderboards/b/players/a%00b/")

    assert response.status_code == 404


def test_an_impossible_time_is_a_400_not_a_500(keyed_client):
    response = keyed_client.post(
        "/api/v1/leaderboards/",
        {"slug": "x", "name": "x", "starts_at": "2024-01-01T12:99:00Z"},
        format="json",
    )

    assert response.status_code == 400
    assert "starts_at" in response.json()
