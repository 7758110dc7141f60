"""Erasure end to end (issue 21, item 3): a real broker and a real `consume_scores` process.
The erased player's events are sent again after the erasure, with their event ids and new
ones, all stamped before it, through Kafka and through the HTTP events API: none is stored
or rejected. One stamped after the erasure starts a new player from zero."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.models import RejectedEvent
from leaderboards.models import ScoreDelta
from leaderboards.selectors import board_entries
from players.models import Player, Tombstone
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consumer_process, produce, stop, stored_count, wait_for
from tests.leaderboards.test_erasure import holders

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ERASED = "gdpr-replay-51d0a8e3"
NAME = "Ottilie Replay 77b2"


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message(
    player: str, delta: int, at: datetime, event_id: str | None = None, name: str | None = None
) -> tuple[bytes, bytes]:
    fields: dict = {"player_id": player, "delta": delta, "created_at": stamp(at)}
    if event_id is not None:
        fields["event_id"] = event_id
    if name is not None:
        fields["display_name"] = name
    return player.encode(), json.dumps(fields).encode()


def test_events_sent_again_after_an_erasure_are_dropped_and_later_ones_start_afresh(
    topic, store, keyed_client, tmp_path
):
    board = BoardFactory()  # all time
    before = datetime.now(UTC) - timedelta(hours=1)
    erased_events = [
        message(ERASED, 10 + i, before + timedelta(seconds=i), f"{ERASED}-{i}", NAME)
        for i in range(5)
    ] + [message(ERASED, 50, before + timedelta(seconds=9))]  # no event_id
    others = [message("ann", 7, before), message("bob", 3, before)]
    log_path = tmp_path / "consumer.log"
    with open(log_path, "wb") as log:
        process = consumer_process(
            topic,
            f"group-{topic}",
            env={"INGEST_BATCH_TIMEOUT_MS": "100"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            produce([*erased_events, *others], topic)
            wait_for(lambda: stored_count() == 8, message="the first events stored")
            _, entries = board_entries(board, offset=0, limit=10)  # cached in Redis
            assert [(e.player_id, e.score) for e in entries] == [
                (ERASED, 110),
                ("ann", 7),
                ("bob", 3),
            ]

            erased = keyed_client.delete(f"/api/v1/players/{ERASED}/", {"reason": "GDPR"})
            assert erased.status_code == 204
            erased_at = Tombstone.objects.get().erased_at

            # The consumer still has the player's key cached: the first of these batches
            # fails on the foreign key and is stored again (leaderboards/erasure.py).
            produce(
                [
                    *erased_events,  # the same messages: same event ids, and one without
                    message(ERASED, 100, before + timedelta(seconds=20), "new-but-old"),
                ],
                topic,
            )
            sent = keyed_client.post(
                "/api/v1/events/",
                {"player_id": ERASED, "delta": 1000, "created_at": stamp(before), "event_id": "h"},
                format="json",
            )
            assert sent.status_code == 202
            # Last on the player's partition: once it is stored, so is everything before it.
            after = erased_at + timedelta(seconds=1)
            produce([message(ERASED, 4, after, "after-1")], topic)
            wait_for(
                lambda: ScoreDelta.objects.filter(player__external_id=ERASED).exists(),
                message="the event stamped after the erasure stored",
            )
        finally:
            assert stop(process) == 0

    player = Player.objects.get(external_id=ERASED)
    assert list(ScoreDelta.objects.filter(player=player).values_list("delta", flat=True)) == [4]
    assert player.display_name == ""
    assert player.replays_until == erased_at
    assert stored_count() == 3  # ann's, bob's and the new player's
    assert not RejectedEvent.objects.exists()
    _, entries = board_entries(board, offset=0, limit=10)
    assert [(e.player_id, e.score) for e in entries] == [("ann", 7), (ERASED, 4), ("bob", 3)]
    assert holders(NAME) == []
    output = log_path.read_text()
    dropped = sum(int(n) for n in re.findall(r"dropped (\d+) messages replaying erased", output))
    assert dropped == 8  # six sent again, one with a new id, one over HTTP
    assert "erased meanwhile: storing it again" in output
