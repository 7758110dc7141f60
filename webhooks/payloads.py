"""The bodies of messages, Standard Webhooks' shape: `{"type", "timestamp", "data"}`.

- board.started: `data` is `{"board": <the board as GET /leaderboards/{slug}/ shows it>}`;
- board.finalized: `data` is `{"board": ..., "count": <players ranked>, "results": <the
  final top 100, as /entries/ lists them>}`.

Links in `board` are paths (`/api/v1/leaderboards/{slug}/`): a worker knows no host name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.renderers import JSONRenderer
from leaderboards.api.serializers import BoardOutputSerializer
from leaderboards.models import Board
from leaderboards.selectors import board_entries
from webhooks.models import Event

FINAL_TOP = 100


def message_body(*, event: str, board: Board, at: datetime) -> str:
    """The JSON text of a message about `board`: what is sent and signed, byte for byte,
    on every attempt."""
    data: dict[str, Any] = {
        "board": dict(BoardOutputSerializer(board, context={"request": None}).data)
    }
    if event == Event.BOARD_FINALIZED:
        count, entries = board_entries(board, offset=0, limit=FINAL_TOP)
        data |= {"count": count, "results": entries}
    timestamp = at.isoformat().replace("+00:00", "Z")
    body = {"type": event, "timestamp": timestamp, "data": data}
    return JSONRenderer().render(body).decode()
