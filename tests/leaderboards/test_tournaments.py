"""Tournaments: joining (the participants API and its limits), which events count
(`join_required`, `max_attempts`) wherever a board is ranked, and the cache kept right
when players join or leave."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from access.models import Scope
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import (
    Aggregation,
    Board,
    Participant,
    ScoreDelta,
    SortOrder,
    TieBreak,
)
from leaderboards.postgres.final import final_page
from leaderboards.postgres.standings import standings_page, standings_ranked_stream
from leaderboards.ranking import Window
from leaderboards.services import board_finalize, series_create
from leaderboards.tournaments import participant_join, participant_leave
from players.models import Player
from tests.factories import BoardFactory, api_client_with
from tests.leaderboards.test_tie_breaks import (
    ENDS,
    MOMENTS,
    PLAYERS,
    STARTS,
    Event,
    clear,
    counted,
    events_strategy,
    feed,
    reference,
    triples,
)

NOW = timezone.now()


def keyed(*scopes: str) -> APIClient:
    return api_client_with(*scopes, name="t")


# -- the participants API ------------------------------------------------------------------


@pytest.mark.django_db
def test_joining_listing_and_leaving():
    client = keyed(Scope.BOARDS_WRITE)
    BoardFactory(slug="cup", join_required=True, starts_at=NOW - timedelta(hours=1))
    url = "/api/v1/leaderboards/cup/participants/"

    first = client.post(url, {"player_id": "ann"}, format="json")
    again = client.post(url, {"player_id": "ann"}, format="json")
    client.post(url, {"player_id": "bob"}, format="json")
    Player.objects.filter(external_id="bob").update(display_name="Bob")
    listed = APIClient().get(url, {"limit": 1, "offset": 1}).json()

    assert first.status_code == 201, first.json()
    assert first.json()["player_id"] == "ann"
    assert again.status_code == 200
    assert again.json()["joined_at"] == first.json()["joined_at"]
    assert listed["count"] == 2
    assert [(p["player_id"], p["display_name"]) for p in listed["results"]] == [("bob", "Bob")]
    assert client.delete(f"{url}ann/").status_code == 204
    gone = client.delete(f"{url}ann/")
    assert gone.status_code == 404
    assert gone.json() == {"detail": "Player 'ann' is not a participant of board 'cup'."}
    assert list(Participant.objects.values_list("player__external_id", flat=True)) == ["bob"]


@pytest.mark.django_db
def test_a_full_or_ended_board_refuses_to_join_with_409():
    client = keyed(Scope.BOARDS_WRITE)
    BoardFactory(slug="cup", max_participants=1, starts_at=NOW - timedelta(hours=1))
    BoardFactory(slug="past", starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1))

    assert (
        client.post("/api/v1/leaderboards/cup/participants/", {"player_id": "a"}).status_code == 201
    )
    full = client.post("/api/v1/leaderboards/cup/participants/", {"player_id": "b"})
    ended = client.post("/api/v1/leaderboards/past/participants/", {"player_id": "a"})

    assert full.status_code == 409
    assert full.json() == {"detail": "Board 'cup' is full: it takes 1 participants."}
    assert ended.status_code == 409
    assert ended.json() == {"detail": "Board 'past' has ended: it takes no participants."}
    # The one already in is still in (200), full or not.
    assert (
        client.post("/api/v1/leaderboards/cup/participants/", {"player_id": "a"}).status_code == 200
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "player_id"), ({"player_id": ""}, "player_id"), ({"player_id": "x" * 65}, "player_id"),
     ({"player_id": "a\x00b"}, "player_id"), ({"player_id": "   "}, "player_id")],
)  # fmt: skip
def test_joining_with_a_bad_player_id_is_a_400_naming_it(body, field):
    BoardFactory(slug="cup")
    response = keyed(Scope.BOARDS_WRITE).post(
        "/api/v1/leaderboards/cup/participants/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_joining_and_leaving_need_the_boards_write_scope():
    BoardFactory(slug="cup")
    url = "/api/v1/leaderboards/cup/participants/"
    assert APIClient().post(url, {"player_id": "a"}).status_code == 403
    refused = keyed(Scope.EVENTS_WRITE).post(url, {"player_id": "a"})
    assert refused.status_code == 403
    assert "boards:write" in refused.json()["detail"]
    assert keyed(Scope.EVENTS_WRITE).delete(f"{url}a/").status_code == 403
    assert APIClient().get(url).status_code == 200


@pytest.mark.django_db
def test_board_and_series_take_the_tournament_rules():
    client = keyed(Scope.BOARDS_WRITE)
    created = client.post(
        "/api/v1/leaderboards/",
        {"slug": "cup", "name": "Cup", "starts_at": "2026-11-28T00:00:00Z",
         "join_required": True, "max_participants": 64, "max_attempts": 3},
        format="json",
    )  # fmt: skip
    bad = client.post(
        "/api/v1/leaderboards/",
        {"slug": "x", "name": "x", "starts_at": "2026-11-28T00:00:00Z", "max_attempts": 0},
        format="json",
    )
    series = series_create(
        slug="daily-cup", name="Daily cup", period="daily", join_required=True, max_attempts=5
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["join_required"], body["max_participants"], body["max_attempts"]) == (True, 64, 3)
    assert bad.status_code == 400
    assert "max_attempts" in bad.json()
    assert {(b.join_required, b.max_attempts) for b in series.boards.all()} == {(True, 5)}


# -- which events count --------------------------------------------------------------------

RULES = [(True, None), (False, 2), (True, 1)]  # (join_required, max_attempts)


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    example=events_strategy,
    joined=st.dictionaries(st.sampled_from(PLAYERS), st.sampled_from(MOMENTS), max_size=4),
    # One operator and order an example (all of them over the run), every rule and tie-break.
    aggregation=st.sampled_from(Aggregation.values),
    order=st.sampled_from(SortOrder.values),
)
@pytest.mark.django_db(transaction=True)
def test_only_the_events_that_count_rank_wherever_the_board_is_read(
    redis_client, topic, example, joined, aggregation, order
):
    batches, events, _rolled = example  # no rollups: a tournament is read from the log
    clear()
    boards = {}
    for join_required, attempts in RULES:
        for tie_break in TieBreak.values:
            board = Board.objects.create(
                slug=f"{join_required}-{attempts}-{tie_break}".lower().replace("_", ""),
                name="t",
                starts_at=STARTS,
                ends_at=ENDS,
                aggregation=aggregation,
                sort_order=order,
                tie_break=tie_break,
                join_required=join_required,
                max_attempts=attempts,
            )
            boards[(join_required, attempts, tie_break)] = board
            for player, at in joined.items():
                Participant.objects.create(
                    board=board,
                    player=Player.objects.get_or_create(external_id=player)[0],
                    joined_at=at,
                )
            assert cache_build_board(board) == "ready"
    feed(events, batches)
    store = get_store()

    for (join_required, attempts, tie_break), board in boards.items():
        expected = reference(
            counted(events, joined if join_required else None, attempts),
            aggregation,
            order,
            tie_break,
        )
        label = f"{board.slug}: {events} joined {joined}"
        with transaction.atomic():
            assert triples(standings_ranked_stream(Window.of_board(board))) == expected, label
        assert triples(store.top(board, 0, 100).standings) == expected, label
        assert cache_build_board(board, force=True) == "ready"
        assert triples(store.top(board, 0, 100).standings) == expected, label
        assert board_finalize(board.pk)
        assert triples(final_page(board.pk, offset=0, limit=100).standings) == expected, label


@pytest.mark.django_db(transaction=True)
def test_a_late_event_stamped_earlier_displaces_a_counted_attempt(redis_client, topic):
    clear()
    board = Board.objects.create(
        slug="cup", name="c", starts_at=STARTS, ends_at=ENDS, max_attempts=2
    )
    assert cache_build_board(board) == "ready"
    t, positions = MOMENTS, {}
    feed(
        [Event("ann", 5, t[1], 0, uuid.uuid4()), Event("ann", 7, t[2], 0, uuid.uuid4())],
        1,
        positions,
    )
    assert triples(get_store().top(board, 0, 10).standings) == [(1, "ann", 12)]

    # Arrives later, but was played first: it is one of ann's first two attempts now.
    feed([Event("ann", 1, t[0], 0, uuid.uuid4())], 1, positions)

    assert triples(get_store().top(board, 0, 10).standings) == [(1, "ann", 6)]
    assert triples(standings_page(Window.of_board(board), offset=0, limit=10).standings) == [
        (1, "ann", 6)
    ]


@pytest.mark.django_db(transaction=True)
def test_joins_and_leaves_keep_a_cached_board_right(redis_client, topic):
    clear()
    now = timezone.now()
    board = Board.objects.create(
        slug="cup", name="c", starts_at=now - timedelta(hours=1), join_required=True
    )
    assert cache_build_board(board) == "ready"
    participant_join(board=board, player_id="ann")
    # bob plays before joining (not counted), and once stamped a minute ahead of the
    # clock, which his join below makes count; ann's counts.
    feed(
        [
            Event("bob", 4, now - timedelta(minutes=5), 0, uuid.uuid4()),
            Event("bob", 3, now + timedelta(minutes=1), 0, uuid.uuid4()),
            Event("ann", 2, now + timedelta(seconds=30), 0, uuid.uuid4()),
        ],
        1,
    )
    assert triples(get_store().top(board, 0, 10).standings) == [(1, "ann", 2)]

    participant_join(board=board, player_id="bob")
    # The join made stored events count: the cached copy was dropped, and is built again.
    assert get_store().state(board) is None
    assert cache_build_board(board) == "ready"
    assert triples(get_store().top(board, 0, 10).standings) == [(1, "bob", 3), (2, "ann", 2)]

    assert participant_leave(board=board, player_id="bob")
    assert get_store().state(board) is None
    assert cache_build_board(board) == "ready"
    assert triples(get_store().top(board, 0, 10).standings) == [(1, "ann", 2)]


@pytest.mark.django_db(transaction=True)
def test_events_that_do_not_count_are_stored_and_counted_in_a_metric(redis_client, topic, settings):
    clear()
    # The consumer's list of live tournaments, read afresh (as a consumer starting now would).
    settings.LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS = 0
    Board.objects.create(
        slug="cup", name="c", starts_at=STARTS, ends_at=ENDS, join_required=True, max_attempts=1
    )
    BoardFactory(slug="open", starts_at=STARTS, ends_at=ENDS)  # counts everything
    participant_join(
        board=Board.objects.get(slug="cup"), player_id="ann", now=STARTS - timedelta(days=1)
    )
    Participant.objects.update(joined_at=STARTS)
    before = not_counted()

    feed(
        [
            Event("ann", 1, MOMENTS[1], 0, uuid.uuid4()),  # counts
            Event("ann", 1, MOMENTS[2], 0, uuid.uuid4()),  # a second attempt: does not
            Event("bob", 1, MOMENTS[1], 0, uuid.uuid4()),  # not a participant: does not
        ],
        1,
    )

    assert not_counted() - before == 2
    assert ScoreDelta.objects.count() == 3


def not_counted() -> float:
    return REGISTRY.get_sample_value("leaderboards_events_not_counted_total") or 0.0


def test_the_reference_rules_in_words():
    t = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(4)]
    k = [uuid.UUID(int=i) for i in range(4)]
    events = [Event("a", 1, t[2], 0, k[0]), Event("a", 2, t[0], 1, k[1]),
              Event("a", 4, t[1], 0, k[2]), Event("b", 8, t[3], 0, k[3])]  # fmt: skip
    assert [e.value for e in counted(events, attempts=2)] == [2, 4, 8]
    assert [e.value for e in counted(events, joined={"a": t[1]})] == [1, 4]
    assert counted(events, joined={"a": t[1]}, attempts=1) == [events[2]]
