"""Bans (issue 21): a banned player is in no ranking and everyone else closes up, in Redis,
in PostgreSQL and in final standings, for both tie-breaks; their events are still stored;
an unban restores everything; the ban holds through a Redis flush and a finalisation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.models import Aggregation, Board, ScoreDelta, SortOrder, TieBreak
from leaderboards.moderation import player_ban, player_unban
from leaderboards.postgres.final import final_page
from leaderboards.postgres.standings import standings_for_players, standings_ranked_stream
from leaderboards.ranking import Window
from leaderboards.selectors import board_around, board_ranks, board_standings_csv
from leaderboards.services import board_finalize
from players.audit import Actor
from players.models import AuditEntry, Player
from tests.leaderboards.test_tie_breaks import (
    ENDS,
    MOMENTS,
    PLAYERS,
    STARTS,
    Event,
    clear,
    feed,
    reference,
    triples,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.api_key("tests")


def make_board(tie_break: str, slug: str = "b") -> Board:
    return Board.objects.create(
        slug=slug,
        name=slug,
        metric="score",
        starts_at=STARTS,
        ends_at=ENDS,
        aggregation=Aggregation.SUM,
        sort_order=SortOrder.DESC,
        tie_break=tie_break,
    )


def events(*rows: tuple[str, int, int]) -> list[Event]:
    """(player, value, moment index) in batch 0."""
    return [Event(p, v, MOMENTS[m], 0, uuid.uuid4()) for p, v, m in rows]


def everywhere(board: Board) -> dict[str, list[tuple[int, str, int]]]:
    """The board as Redis (rebuilding it if a ban dropped it) and PostgreSQL rank it."""
    store = get_store()
    if not store.cached_board_ids() or board.pk not in store.cached_board_ids():
        assert cache_build_board(board) == "ready"
    with transaction.atomic():
        postgres = triples(standings_ranked_stream(Window.of_board(board)))
    return {"redis": triples(store.top(board, 0, 100).standings), "postgres": postgres}


SCORES = events(("a", 5, 0), ("b", 9, 1), ("c", 5, 2), ("d", 1, 3))


@pytest.mark.parametrize("tie_break", TieBreak.values)
def test_a_ban_hides_the_player_and_others_close_up_then_unban_restores(
    redis_client, topic, tie_break
):
    clear()
    board = make_board(tie_break)
    assert cache_build_board(board) == "ready"
    feed(SCORES, 1)
    full = reference(SCORES, Aggregation.SUM, SortOrder.DESC, tie_break)
    hidden = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, tie_break
    )
    assert everywhere(board) == {"redis": full, "postgres": full}

    player_ban(player_id="b", reason="speed hack", actor=ACTOR)

    assert everywhere(board) == {"redis": hidden, "postgres": hidden}
    assert hidden[0][:2] == (1, "a")
    assert board_around(board, player_id="b", n=2) == []
    assert [e.player_id for e in board_ranks(board, player_ids=["a", "b"])] == ["a"]
    assert "b" not in standings_for_players(Window.of_board(board), ["b"])
    assert ScoreDelta.objects.filter(player__external_id="b").count() == 1  # kept

    player_unban(player_id="b", actor=ACTOR)

    assert everywhere(board) == {"redis": full, "postgres": full}
    assert list(AuditEntry.objects.values_list("action", "player_id", "actor")) == [
        ("unban", "b", "tests"),
        ("ban", "b", "tests"),
    ]


def test_a_banned_players_new_events_are_stored_and_counted_after_the_unban(redis_client, topic):
    clear()
    board = make_board(TieBreak.PLAYER_ID)
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    feed(SCORES, 1, positions)
    player_ban(player_id="b", reason="r", actor=ACTOR)
    assert cache_build_board(board) == "ready"
    later = [Event("b", 3, MOMENTS[4], 0, uuid.uuid4()), Event("a", 1, MOMENTS[4], 0, uuid.uuid4())]
    feed(later, 1, positions)  # applied to the cached board: b's skipped

    without_b = reference(
        [e for e in SCORES + later if e.player != "b"], Aggregation.SUM, SortOrder.DESC, "player_id"
    )
    assert everywhere(board) == {"redis": without_b, "postgres": without_b}

    player_unban(player_id="b", actor=ACTOR)

    full = reference(SCORES + later, Aggregation.SUM, SortOrder.DESC, "player_id")
    assert everywhere(board) == {"redis": full, "postgres": full}
    assert ("b", 12) in [(p, s) for _, p, s in full]


def test_a_ban_holds_through_a_redis_flush(redis_client, topic):
    clear()
    board = make_board(TieBreak.PLAYER_ID)
    feed(SCORES, 1)
    player_ban(player_id="b", reason="r", actor=ACTOR)
    redis_client.flushdb()

    assert cache_build_board(board) == "ready"
    assert "b" not in [s.player_id for s in get_store().top(board, 0, 100).standings]


@pytest.mark.parametrize("tie_break", TieBreak.values)
def test_a_board_finalised_while_banned_shows_the_player_after_the_unban(
    redis_client, topic, tie_break
):
    clear()
    board = make_board(tie_break)
    feed(SCORES, 1)
    full = reference(SCORES, Aggregation.SUM, SortOrder.DESC, tie_break)
    hidden = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, tie_break
    )
    player_ban(player_id="b", reason="r", actor=ACTOR)
    assert board_finalize(board.pk)
    board.refresh_from_db()

    assert triples(final_page(board.pk, offset=0, limit=100).standings) == hidden
    assert final_page(board.pk, offset=0, limit=100).count == len(hidden)
    assert board_ranks(board, player_ids=["b"]) == []
    assert board_around(board, player_id="b", n=1) == []

    player_unban(player_id="b", actor=ACTOR)

    assert triples(final_page(board.pk, offset=0, limit=100).standings) == full
    rows = list(csv.reader(io.StringIO("".join(board_standings_csv(board)))))[1:]
    assert [(int(r[0]), r[1], int(r[3])) for r in rows] == full

    player_ban(player_id="b", reason="again", actor=ACTOR)  # a board frozen before the ban

    assert triples(final_page(board.pk, offset=0, limit=100).standings) == hidden


def test_ban_and_unban_are_idempotent_and_audited_once(db):
    clear()
    feed(SCORES, 1)
    first = player_ban(player_id="a", reason="one", actor=ACTOR)
    again = player_ban(player_id="a", reason="two", actor=ACTOR)
    player_unban(player_id="a", actor=ACTOR)
    player_unban(player_id="a", actor=ACTOR)

    assert again.banned_at == first.banned_at
    assert again.ban_reason == "one"
    assert AuditEntry.objects.count() == 2


# -- one reference for events, bans and unbans in any order ------------------------------

steps = st.lists(
    st.one_of(
        st.builds(
            lambda p, v, m: ("event", p, v, m),
            st.sampled_from(PLAYERS),
            st.integers(-1, 3),
            st.sampled_from(MOMENTS),
        ),
        st.builds(lambda p: ("ban", p), st.sampled_from(PLAYERS)),
        st.builds(lambda p: ("unban", p), st.sampled_from(PLAYERS)),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, tie_break=st.sampled_from(TieBreak.values), finalize_at=st.integers(0, 14))
def test_rankings_under_bans_match_the_reference(
    redis_client, topic, script, tie_break, finalize_at
):
    clear()
    Player.objects.bulk_create([Player(external_id=p) for p in PLAYERS])
    board = make_board(tie_break)
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    stored: list[Event] = []
    banned: set[str] = set()
    frozen: list[Event] | None = None
    for number, step in enumerate(script):
        if number == finalize_at and frozen is None:
            assert board_finalize(board.pk)
            board.refresh_from_db()
            frozen = list(stored)
        if step[0] == "event":
            event = Event(step[1], step[2], step[3], 0, uuid.uuid4())
            feed([event], 1, positions)
            stored.append(event)
            if frozen is None and board.pk not in get_store().cached_board_ids():
                assert cache_build_board(board) == "ready"
        elif step[0] == "ban":
            player_ban(player_id=step[1], reason="r", actor=ACTOR)
            banned.add(step[1])
        else:
            player_unban(player_id=step[1], actor=ACTOR)
            banned.discard(step[1])
    shown = [e for e in stored if e.player not in banned]
    expected = reference(shown, Aggregation.SUM, SortOrder.DESC, tie_break)
    label = f"{script} {tie_break} {finalize_at}"
    if frozen is None:
        store = get_store()
        if board.pk in store.cached_board_ids():  # fed batch by batch since the last ban
            assert triples(store.top(board, 0, 100).standings) == expected, label
        assert everywhere(board) == {"redis": expected, "postgres": expected}, label
    else:
        final = reference(
            [e for e in frozen if e.player not in banned],
            Aggregation.SUM,
            SortOrder.DESC,
            tie_break,
        )
        assert triples(final_page(board.pk, offset=0, limit=100).standings) == final, label
        with transaction.atomic():
            assert triples(standings_ranked_stream(Window.of_board(board))) == expected, label


def test_moments_cover_the_window():
    assert min(MOMENTS) >= STARTS
    assert max(MOMENTS) < ENDS + timedelta(0)
