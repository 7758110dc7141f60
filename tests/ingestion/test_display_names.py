"""A score event may name its player: the consumer stores the name of the latest such
event (by created_at, whatever order they arrive in) and boards show it at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingestion.events import Reason
from ingestion.models import RejectedEvent
from leaderboards.selectors import board_entries
from players.models import Player
from players.services import player_profile_set
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consume_until_idle, produce

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def event(player: str, minutes: int, name: object = None, **fields) -> tuple[bytes, bytes]:
    payload = {
        "player_id": player,
        "delta": 1,
        "created_at": (AT + timedelta(minutes=minutes)).isoformat(),
        **fields,
    }
    if name is not None:
        payload["display_name"] = name
    return player.encode(), json.dumps(payload).encode()


def names() -> dict[str, str]:
    return dict(Player.objects.values_list("external_id", "display_name"))


@pytest.mark.slow
def test_the_latest_name_by_created_at_wins_in_any_order(topic, store):
    board = BoardFactory(starts_at=AT - timedelta(days=1), ends_at=None)
    board_entries(board, offset=0, limit=10)  # cached before the names arrive

    produce([event("p1", 10, "Newest"), event("p1", 5, "Older"), event("p2", 1, " Bo ")], topic)
    consume_until_idle(topic)
    assert names() == {"p1": "Newest", "p2": "Bo"}

    # A later batch with an older name changes nothing; one without a name neither.
    produce([event("p1", 7, "Stale"), event("p1", 20)], topic)
    consume_until_idle(topic)
    assert names()["p1"] == "Newest"
    _, entries = board_entries(board, offset=0, limit=10)
    assert store.state(board) == "ready"
    assert {e.player_id: e.display_name for e in entries} == {"p1": "Newest", "p2": "Bo"}

    produce([event("p1", 30, "Renamed", event_id="rename-1")], topic)
    consume_until_idle(topic)
    _, entries = board_entries(board, offset=0, limit=10)  # from Redis, the new name
    assert {e.player_id: e.display_name for e in entries}["p1"] == "Renamed"


def test_a_name_set_over_the_api_is_not_undone_by_an_older_event(topic, store):
    produce([event("p1", 0, "From the game")], topic)
    consume_until_idle(topic)
    player_profile_set(external_id="p1", display_name="Chosen")

    produce([event("p1", 1, "From the game again")], topic)  # stamped an hour ago
    consume_until_idle(topic)

    assert names()["p1"] == "Chosen"


INVALID = [
    ("", Reason.INVALID_VALUE, "display_name must not be empty"),
    ("x" * 101, Reason.TOO_LONG, "display_name is 101 characters, at most 100"),
    ("tab\there", Reason.INVALID_VALUE, "display_name holds control characters"),
    (42, Reason.WRONG_TYPE, "display_name must be a string, got an integer"),
    # Unicode category Cf: invisible, so "Ada\u200b" would pass for "Ada" on a board.
    ("Ada\u200b", Reason.INVALID_VALUE, "display_name holds invisible format characters"),
    ("\u202eadA", Reason.INVALID_VALUE, "display_name holds invisible format characters"),
]


def test_an_invalid_name_makes_the_event_a_rejected_one(topic, store):
    produce([event(f"p{i}", 0, name) for i, (name, _, _) in enumerate(INVALID)], topic)
    results = consume_until_idle(topic)

    assert sum(r.rejected for r in results) == len(INVALID)
    rejected = {bytes(r.key).decode(): r for r in RejectedEvent.objects.all()}
    for i, (_, reason, detail) in enumerate(INVALID):
        assert rejected[f"p{i}"].reason == reason
        assert rejected[f"p{i}"].detail.startswith(detail)
    assert not Player.objects.exists()
