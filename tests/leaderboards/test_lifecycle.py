"""Finalisation, final standings served through the API, CSV export, cache sync, tasks."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from ingestion.batches import DecodedBatch, store_batch
from ingestion.events import ScoreEvent
from leaderboards import tasks
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.sync import cache_sync
from leaderboards.models import Aggregation, Board, FinalStanding
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.services import board_finalize, boards_finalize_due
from tests.factories import BoardFactory, PlayerFactory

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 20, tzinfo=UTC)
END = START + timedelta(days=1)


def add(player: str, delta: int, at: datetime, metric: str = "score") -> None:
    pk = PlayerFactory(external_id=player).pk
    deltas_insert_batch(rows=[DeltaRow(uuid.uuid4(), pk, player, metric, delta, at, 0)])


def ended_board(**fields) -> Board:
    board = BoardFactory(starts_at=START, ends_at=END, **fields)
    for player, delta in [("ann", 50), ("bob", 40), ("cid", 40), ("dee", 30)]:
        add(player, delta, START + timedelta(hours=1))
    return board


def entries(client, slug: str) -> list[tuple[int, str, int]]:
    body = client.get(f"/api/v1/leaderboards/{slug}/entries/").json()
    return [(e["rank"], e["player_id"], e["score"]) for e in body["results"]]


def test_an_ended_board_is_finalised_only_after_the_grace_period(settings):
    settings.LEADERBOARD_FINALIZE_GRACE_SECONDS = 600
    board = ended_board()
    assert boards_finalize_due(now=END + timedelta(seconds=599)) == []
    assert boards_finalize_due(now=END + timedelta(seconds=600)) == [board.pk]
    board.refresh_from_db()
    assert board.finalized_at == END + timedelta(seconds=600)
    assert board.status == "finalized"
    assert FinalStanding.objects.filter(board=board).count() == 4
    assert boards_finalize_due(now=END + timedelta(hours=1)) == []  # once only


def test_final_results_are_served_and_late_events_no_longer_change_them(client, store):
    board = ended_board()
    assert cache_build_board(board) == "ready"
    assert board_finalize(board.pk)
    assert store.state(board) is None  # evicted from Redis
    add("eve", 999, START + timedelta(hours=2))  # late, inside the window
    assert entries(client, board.slug) == [
        (1, "ann", 50),
        (2, "bob", 40),
        (2, "cid", 40),
        (4, "dee", 30),
    ]
    detail = client.get(f"/api/v1/leaderboards/{board.slug}/").json()
    assert detail["status"] == "finalized"
    assert detail["finalized_at"] is not None
    me = client.get(f"/api/v1/leaderboards/{board.slug}/players/dee/?around=1").json()
    assert (me["rank"], [e["player_id"] for e in me["around"]]) == (4, ["cid", "dee"])
    ranks = client.post(
        f"/api/v1/leaderboards/{board.slug}/ranks/", {"player_ids": ["cid", "eve"]}, format="json"
    ).json()
    assert [e["player_id"] for e in ranks["results"]] == ["cid"]


@pytest.mark.parametrize("finalized", [False, True])
def test_standings_export_as_csv(client, finalized):
    board = ended_board(aggregation=Aggregation.SUM)
    if finalized:
        board_finalize(board.pk)
    response = client.get(f"/api/v1/leaderboards/{board.slug}/entries.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["rank", "player_id", "display_name", "score"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("1", "ann", "50"),
        ("2", "bob", "40"),
        ("2", "cid", "40"),
        ("4", "dee", "30"),
    ]


def test_cache_sync_warms_live_boards_evicts_finalised_and_repairs_drift(store, settings):
    now = datetime.now(UTC)
    live = BoardFactory(starts_at=now - timedelta(days=1))
    add("ann", 5, now - timedelta(minutes=1))
    report = cache_sync(checks=0)
    assert live.slug in report.warmed
    assert store.state(live) == "ready"

    ended = ended_board()
    assert cache_build_board(ended) == "ready"
    Board.objects.filter(pk=ended.pk).update(finalized_at=now)
    assert ended.slug in cache_sync(checks=0).evicted
    assert store.state(ended) is None

    store.redis.zadd(f"lb:{{{live.pk}}}:z", {"ghost": -1_000})  # drift: not in PostgreSQL
    drifted = (
        REGISTRY.get_sample_value("leaderboards_cache_sync_boards_total", {"action": "drifted"})
        or 0
    )
    report = cache_sync(checks=10)
    assert report.drifted == [live.slug]
    assert (
        REGISTRY.get_sample_value("leaderboards_cache_sync_boards_total", {"action": "drifted"})
        == drifted + 1
    )
    assert "ghost" not in {s.player_id for s in store.top(live, 0, 10).standings}


def test_the_drift_check_takes_every_cached_board_in_turn(store, settings):
    """Each sync compares the next LEADERBOARD_DRIFT_CHECKS_PER_SYNC boards by id, wrapping
    round: with 7 boards and 3 checks a sync, every board is compared within 3 syncs, so a
    board that drifted is found in bounded time whichever it is."""
    settings.LEADERBOARD_DRIFT_CHECKS_PER_SYNC = 3
    now = datetime.now(UTC)
    boards = [BoardFactory(starts_at=now - timedelta(days=1)) for _ in range(7)]
    add("ann", 5, now - timedelta(minutes=1))
    for board in boards:
        assert cache_build_board(board) == "ready"
    for board in boards:  # every board drifts at once
        store.redis.zadd(f"lb:{{{board.pk}}}:z", {"ghost": -1_000})
    found = [cache_sync().drifted for _ in range(3)]
    assert [len(slugs) for slugs in found] == [3, 3, 1]
    assert sorted(slug for slugs in found for slug in slugs) == sorted(b.slug for b in boards)
    # The turn goes on from where it stopped: one drifted board is found within 3 syncs.
    store.redis.zadd(f"lb:{{{boards[4].pk}}}:z", {"ghost": -1_000})
    assert [slug for _ in range(3) for slug in cache_sync().drifted] == [boards[4].slug]


def test_tasks_run_eagerly_and_return_what_they_did(settings, store):
    settings.LEADERBOARD_FINALIZE_GRACE_SECONDS = 0
    board = ended_board()
    assert tasks.boards_finalize.apply().get() == [board.pk]
    assert tasks.board_finalize.apply(args=[board.pk]).get() is False
    assert tasks.cache_sync.apply().get()["checked"] >= 0
    # Deltas committed seconds ago stay behind the watermark's safety margin for now.
    watermark = tasks.rollups_advance.apply().get()["watermark"]
    assert datetime.fromisoformat(watermark) <= datetime.now(UTC)


def test_events_for_a_finalised_window_are_stored_and_counted(settings, admin_client):
    settings.LEADERBOARD_CONSUMER_BOARDS_MAX_AGE_MS = 0
    board = ended_board()
    board_finalize(board.pk)
    before = REGISTRY.get_sample_value("leaderboards_events_after_finalization_total") or 0
    batch = DecodedBatch(next_offsets={0: 1})
    for player, at in [("zed", START + timedelta(hours=3)), ("zed", END)]:  # in, just after
        batch.events.append((0, ScoreEvent(player, "score", 5, at, None, uuid.uuid4())))

    stored = store_batch(topic="t", batch=batch)

    assert (len(stored.new), stored.late) == (2, 1)
    after = REGISTRY.get_sample_value("leaderboards_events_after_finalization_total")
    assert after == before + 1
    board.refresh_from_db()
    assert board.late_events == 1
    assert FinalStanding.objects.filter(board=board, player__external_id="zed").count() == 0
    html = admin_client.get(f"/admin/leaderboards/board/{board.pk}/change/").content.decode()
    assert "Late events" in html
