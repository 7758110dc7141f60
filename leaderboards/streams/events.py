"""The wire format of the streams: Server-Sent Events, and the JSON of their data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec

from leaderboards.selectors import Entry

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Event:
    """One event as sent: its id, its type and its data (JSON, one line), and its bytes on
    the wire, encoded once for every stream it goes to."""

    id: str
    type: str
    data: bytes
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        wire = b"id: %s\nevent: %s\ndata: %s\n\n" % (
            self.id.encode(),
            self.type.encode(),
            self.data,
        )
        object.__setattr__(self, "wire", wire)

    def encode(self) -> bytes:
        return self.wire


HEARTBEAT = b": heartbeat\n\n"
# Asks EventSource to reconnect after 2 s rather than its default 3 to 5.
RETRY = b"retry: 2000\n\n"


def event_id() -> str:
    """Milliseconds since the epoch with a per-process sequence: ids only grow, across
    processes too, so a client's Last-Event-ID tells which state it saw last."""
    global _last_id
    now = time.time_ns() // 1_000_000
    _last_id = max(now, _last_id + 1)
    return str(_last_id)


_last_id = 0


def entries_data(count: int, entries: list[Entry]) -> bytes:
    """The data of an `entries` event: the JSON of /entries/'s count and results."""
    return _encoder.encode({"count": count, "results": entries})


def rank_data(player_id: str, around: list[Entry]) -> bytes:
    """The data of a `rank` event: the player's rank and score and the players just
    above and below (null at either end, and everything null for a player with no
    score)."""
    me = next((i for i, entry in enumerate(around) if entry.player_id == player_id), None)
    if me is None:
        return _encoder.encode(
            {"player_id": player_id, "rank": None, "score": None, "above": None, "below": None}
        )
    entry = around[me]
    return _encoder.encode(
        {
            "player_id": player_id,
            "display_name": entry.display_name,
            "rank": entry.rank,
            "score": entry.score,
            "above": around[me - 1] if me > 0 else None,
            "below": around[me + 1] if me + 1 < len(around) else None,
        }
    )
