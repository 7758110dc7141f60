"""Bans and removals (issue 21). A banned player is in no ranking and everyone else closes
up, in Redis, in PostgreSQL and in final standings, for both tie-breaks; their events are
still stored; an unban restores everything; the ban holds through a Redis flush and a
finalisation. A removal cuts a player's score off one board: events stamped up to it no
longer count there (late ones included, through the consumer), later ones count from zero,
other boards keep everything; a finalised board loses the row for good."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.erasure import player_erase
from leaderboards.models import (
    Aggregation,
    Board,
    BoardStatus,
    FinalStanding,
    ScoreDelta,
    SortOrder,
    TieBreak,
)
from leaderboards.moderation import board_reopen, board_score_remove, player_ban, player_unban
from leaderboards.postgres.final import final_page
from leaderboards.postgres.rollups import rollups_advance
from leaderboards.postgres.standings import standings_for_players, standings_ranked_stream
from leaderboards.ranking import Window
from leaderboards.selectors import board_around, board_ranks, board_standings_csv
from leaderboards.services import board_finalize, boards_finalize_due
from players.audit import Actor
from players.models import AuditEntry, Player
from tests.leaderboards.test_tie_breaks import (
    ENDS,
    MOMENTS,
    PLAYERS,
    STARTS,
    Event,
    age,
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


# -- removing a score from one board -------------------------------------------------------


@pytest.mark.parametrize("tie_break", TieBreak.values)
def test_a_removal_cuts_one_board_and_later_events_count_from_zero(redis_client, topic, tie_break):
    clear()
    board, other = make_board(tie_break), make_board(tie_break, slug="other")
    for each in (board, other):
        assert cache_build_board(each) == "ready"
    positions: dict[int, int] = {}
    feed(SCORES, 1, positions)

    board_score_remove(board_slug="b", player_id="b", actor=ACTOR, now=MOMENTS[1])

    after_removal = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, tie_break
    )
    assert everywhere(board) == {"redis": after_removal, "postgres": after_removal}
    # Through the consumer, onto the board cached again: a late event stamped before the
    # cut is stored but ignored here, one stamped after it counts from zero.
    later = events(("b", 4, 0), ("b", 2, 4), ("a", 1, 4))
    feed(later, 1, positions)
    counted = [e for e in SCORES + later if e.player != "b" or e.created_at > MOMENTS[1]]
    expected = reference(counted, Aggregation.SUM, SortOrder.DESC, tie_break)
    assert ("b", 2) in [(p, s) for _, p, s in expected]
    assert triples(get_store().top(board, 0, 100).standings) == expected
    assert everywhere(board) == {"redis": expected, "postgres": expected}
    everything = reference(SCORES + later, Aggregation.SUM, SortOrder.DESC, tie_break)
    assert everywhere(other) == {"redis": everything, "postgres": everything}
    assert ScoreDelta.objects.filter(player__external_id="b").count() == 3
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.player_id, entry.board) == ("remove_score", "b", "b")


@pytest.mark.parametrize("tie_break", TieBreak.values)
def test_a_removal_on_a_finalised_board_takes_the_row_and_the_others_close_up(
    redis_client, topic, tie_break
):
    clear()
    board = make_board(tie_break)
    feed(SCORES, 1)
    assert board_finalize(board.pk)
    board.refresh_from_db()

    board_score_remove(board_slug="b", player_id="b", actor=ACTOR)

    without_b = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, tie_break
    )
    assert triples(final_page(board.pk, offset=0, limit=100).standings) == without_b
    rows = list(csv.reader(io.StringIO("".join(board_standings_csv(board)))))[1:]
    assert [(int(r[0]), r[1], int(r[3])) for r in rows] == without_b
    assert board_ranks(board, player_ids=["b"]) == []
    # Gone for good: an unban (of a ban made after the removal) does not bring it back.
    player_ban(player_id="b", reason="r", actor=ACTOR)
    player_unban(player_id="b", actor=ACTOR)
    assert triples(final_page(board.pk, offset=0, limit=100).standings) == without_b
    with pytest.raises(Http404):
        board_score_remove(board_slug="b", player_id="b", actor=ACTOR)


def test_a_banned_players_score_can_be_removed_and_stays_removed_after_the_unban(
    redis_client, topic
):
    clear()
    board = make_board(TieBreak.PLAYER_ID)
    feed(SCORES, 1)
    player_ban(player_id="b", reason="r", actor=ACTOR)

    board_score_remove(board_slug="b", player_id="b", actor=ACTOR)
    player_unban(player_id="b", actor=ACTOR)

    without_b = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, "player_id"
    )
    assert everywhere(board) == {"redis": without_b, "postgres": without_b}


def test_events_a_removal_cut_off_are_no_attempts_on_a_tournament_board(redis_client, topic):
    clear()
    board = make_board(TieBreak.PLAYER_ID)
    board.max_attempts = 1
    board.save()
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    feed(events(("a", 5, 0), ("b", 1, 0)), 1, positions)
    board_score_remove(board_slug="b", player_id="a", actor=ACTOR, now=MOMENTS[1])
    assert cache_build_board(board) == "ready"

    feed(events(("a", 3, 4), ("a", 9, 5)), 1, positions)  # a's first attempt is the 3

    expected = [(1, "a", 3), (2, "b", 1)]
    assert triples(get_store().top(board, 0, 100).standings) == expected
    assert everywhere(board) == {"redis": expected, "postgres": expected}


# -- reopening a finalised board ------------------------------------------------------------


def test_a_reopened_board_counts_late_events_keeps_removals_and_waits_for_staff(
    redis_client, topic
):
    clear()
    board = make_board(TieBreak.PLAYER_ID)  # its window ended a month ago
    positions: dict[int, int] = {}
    feed(SCORES, 1, positions)
    assert board_finalize(board.pk)
    late = events(("d", 20, 4))
    feed(late, 1, positions)
    Board.objects.filter(pk=board.pk).update(late_events=1)  # as the consumer counts it
    board_score_remove(board_slug="b", player_id="b", actor=ACTOR)

    board_reopen(board_id=board.pk, reason="late results from the venue", actor=ACTOR)

    board.refresh_from_db()
    assert (board.finalized_at, board.late_events, board.status) == (None, 0, BoardStatus.ENDED)
    assert not FinalStanding.objects.filter(board=board).exists()
    counted = reference(
        [e for e in SCORES + late if e.player != "b"], Aggregation.SUM, SortOrder.DESC, "player_id"
    )
    assert counted[0] == (1, "d", 21)
    assert everywhere(board) == {"redis": counted, "postgres": counted}
    entry = AuditEntry.objects.filter(action="reopen").get()
    assert (entry.board, entry.reason, entry.player_id) == ("b", "late results from the venue", "")
    # Not finalised again behind staff's back; by hand, with what it counts now.
    assert boards_finalize_due() == []
    assert board_finalize(board.pk)
    board.refresh_from_db()
    assert board.reopened_at is None
    assert triples(final_page(board.pk, offset=0, limit=100).standings) == counted


def test_a_board_is_reopened_only_when_final_and_with_a_reason(db):
    clear()
    board = make_board(TieBreak.PLAYER_ID)
    with pytest.raises(ValidationError, match="not finalised"):
        board_reopen(board_id=board.pk, reason="r", actor=ACTOR)
    assert board_finalize(board.pk)
    with pytest.raises(ValidationError, match="reason"):
        board_reopen(board_id=board.pk, reason="  ", actor=ACTOR)
    with pytest.raises(Http404):
        board_reopen(board_id=board.pk + 1, reason="r", actor=ACTOR)
    board.refresh_from_db()
    assert board.finalized_at is not None
    assert not AuditEntry.objects.exists()


# -- one reference for events, bans, unbans and removals in any order ---------------------

# Few players, so that actions often meet one player's events (a late one after a removal).
ACTORS = st.sampled_from(PLAYERS[:3])
steps = st.lists(
    st.one_of(
        st.builds(
            lambda p, v, m: ("event", p, v, m),
            ACTORS,
            st.integers(-1, 3),
            st.sampled_from(MOMENTS),
        ),
        st.builds(lambda p: ("ban", p), ACTORS),
        st.builds(lambda p: ("unban", p), ACTORS),
        # A removal as if made at that moment: events stamped up to it stop counting.
        st.builds(lambda p, m: ("remove", p, m), ACTORS, st.sampled_from(MOMENTS)),
        # Every moment lies before today: the erased player's later events are replays.
        st.builds(lambda p: ("erase", p), ACTORS),
    ),
    min_size=1,
    max_size=14,
)


def counting(events: list[Event], cuts: dict[str, datetime]) -> list[Event]:
    """The events a board counts after the removals `cuts` (player -> cut-off)."""
    return [e for e in events if e.player not in cuts or e.created_at > cuts[e.player]]


def csv_triples(board: Board) -> list[tuple[int, str, int]]:
    rows = list(csv.reader(io.StringIO("".join(board_standings_csv(board)))))[1:]
    return [(int(r[0]), r[1], int(r[3])) for r in rows]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, tie_break=st.sampled_from(TieBreak.values), finalize_at=st.integers(0, 14))
# A late event stamped before a removal, reaching the board rebuilt after it (the consumer).
@example(
    script=[
        ("event", "b", 2, MOMENTS[0]),
        ("remove", "b", MOMENTS[3]),
        ("event", "b", 3, MOMENTS[1]),
    ],
    tie_break=TieBreak.PLAYER_ID,
    finalize_at=14,
)
# Removals before and after a finalisation, a ban between, later events in the log.
@example(
    script=[
        ("event", "a", 2, MOMENTS[2]),
        ("event", "b", 2, MOMENTS[0]),
        ("event", "B", 1, MOMENTS[4]),
        ("remove", "a", MOMENTS[3]),
        ("event", "a", 3, MOMENTS[4]),  # in the day rolled up with the cut, after it
        ("ban", "B"),
        ("remove", "b", MOMENTS[6]),
        ("remove", "B", MOMENTS[1]),
        ("event", "a", 1, MOMENTS[1]),
    ],
    tie_break=TieBreak.EARLIEST,
    finalize_at=5,
)
# An erasure after the finalisation, a replay of the erased player's, a ban of them refused.
@example(
    script=[
        ("event", "a", 2, MOMENTS[2]),
        ("event", "b", 3, MOMENTS[0]),
        ("event", "B", 1, MOMENTS[4]),
        ("ban", "B"),
        ("erase", "b"),
        ("event", "b", 3, MOMENTS[1]),
        ("ban", "b"),
        ("erase", "b"),
        ("event", "a", 1, MOMENTS[5]),
    ],
    tie_break=TieBreak.EARLIEST,
    finalize_at=4,
)
def test_rankings_under_moderation_match_the_reference(
    redis_client, topic, script, tie_break, finalize_at
):
    clear()
    Player.objects.bulk_create([Player(external_id=p) for p in PLAYERS])
    board = make_board(tie_break)
    assert cache_build_board(board) == "ready"
    positions: dict[int, int] = {}
    stored: list[Event] = []
    banned: set[str] = set()
    cuts: dict[str, datetime] = {}
    frozen: list[Event] | None = None  # what the board counted when it was finalised
    removed_since: set[str] = set()  # whose final row a removal took away
    erased: set[str] = set()
    for number, step in enumerate(script):
        if number == finalize_at and frozen is None:
            assert board_finalize(board.pk)
            board.refresh_from_db()
            frozen = counting(stored, cuts)
        if step[0] == "event":
            event = Event(step[1], step[2], step[3], 0, uuid.uuid4())
            feed([event], 1, positions)
            if event.player not in erased:  # else a replay, dropped
                stored.append(event)
        elif step[0] in ("ban", "unban") and step[1] in erased:
            with pytest.raises(Http404):
                (player_ban if step[0] == "ban" else player_unban)(
                    player_id=step[1], reason="r", actor=ACTOR
                )
        elif step[0] == "ban":
            player_ban(player_id=step[1], reason="r", actor=ACTOR)
            banned.add(step[1])
        elif step[0] == "unban":
            player_unban(player_id=step[1], actor=ACTOR)
            banned.discard(step[1])
        elif step[0] == "erase":
            # Again on an erased player: done already (the Redis part redone).
            player_erase(player_id=step[1], actor=ACTOR)
            erased.add(step[1])
            stored = [e for e in stored if e.player != step[1]]
            if frozen is not None:  # their final row goes, and the others close up
                frozen = [e for e in frozen if e.player != step[1]]
            banned.discard(step[1])
            cuts.pop(step[1], None)
            removed_since.discard(step[1])
        else:
            _, player, moment = step
            if frozen is None:
                has_score = any(e.player == player for e in counting(stored, cuts))
            else:
                has_score = player not in removed_since and any(e.player == player for e in frozen)
            if has_score:
                board_score_remove(board_slug=board.slug, player_id=player, actor=ACTOR, now=moment)
                cuts[player] = max(cuts.get(player, moment), moment)
                if frozen is not None:
                    removed_since.add(player)
            else:
                with pytest.raises(Http404):
                    board_score_remove(
                        board_slug=board.slug, player_id=player, actor=ACTOR, now=moment
                    )
        if frozen is None and board.pk not in get_store().cached_board_ids():
            assert cache_build_board(board) == "ready"  # fed batch by batch from here
    shown = [e for e in counting(stored, cuts) if e.player not in banned]
    expected = reference(shown, Aggregation.SUM, SortOrder.DESC, tie_break)
    label = f"{script} {tie_break} {finalize_at}"
    if frozen is None:
        store = get_store()
        if board.pk in store.cached_board_ids():  # fed batch by batch since the last action
            assert triples(store.top(board, 0, 100).standings) == expected, label
        assert everywhere(board) == {"redis": expected, "postgres": expected}, label
        assert csv_triples(board) == expected, label
    else:
        final = reference(
            [e for e in frozen if e.player not in banned | removed_since],
            Aggregation.SUM,
            SortOrder.DESC,
            tie_break,
        )
        assert triples(final_page(board.pk, offset=0, limit=100).standings) == final, label
        assert csv_triples(board) == final, label
        with transaction.atomic():
            assert triples(standings_ranked_stream(Window.of_board(board))) == expected, label
    # The same from the rollups, once they hold every event.
    age(stored, 1)
    rollups_advance()
    with transaction.atomic():
        assert triples(standings_ranked_stream(Window.of_board(board))) == expected, label


def test_moments_cover_the_window():
    assert min(MOMENTS) >= STARTS
    assert max(MOMENTS) < ENDS + timedelta(0)
