"""Change notices: which cached boards a batch changed, and which boards were finalised,
published once per batch on one Redis pub/sub channel (`CHANGES_CHANNEL`) for the stream
servers (leaderboards/streams/), each of which subscribes once and fans out in memory.

A notice is a hint, not the truth: a stream server reads the board again and sends only
what changed, so a notice too many costs one read per stream process, and one lost (pub/sub
is at most once, and a stream server that reconnects misses what was sent meanwhile) is
made up by its periodic re-read. Publishing therefore never fails the batch: a Redis error
is logged and the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import msgspec

from leaderboards.cache.store import get_store

logger = logging.getLogger(__name__)

CHANGES_CHANNEL = "lb:changes"


class ChangeNotice(msgspec.Struct, frozen=True):
    """What one notice says: boards whose standings changed, boards now final, and when
    (epoch seconds; the push benchmark measures delivery lag from it)."""

    boards: list[int] = []
    finalized: list[int] = []
    at: float = 0.0


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ChangeNotice)


def changes_decode(data: bytes) -> ChangeNotice | None:
    """A notice as published, or None for one that cannot be read (ignored)."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        return None


def changes_publish(
    *, boards: Iterable[int] = (), finalized: Iterable[int] = (), at: float | None = None
) -> None:
    """One PUBLISH saying which boards changed or were finalised (at `at`, default now);
    nothing when none did. Never raises: a notice lost is made up by the stream servers'
    periodic re-read."""
    notice = ChangeNotice(
        boards=sorted(set(boards)),
        finalized=sorted(set(finalized)),
        at=time.time() if at is None else at,
    )
    if not notice.boards and not notice.finalized:
        return
    try:
        get_store().redis.publish(CHANGES_CHANNEL, _encoder.encode(notice))
    except Exception as exc:  # a notice is never worth failing a batch
        logger.warning("change notice not published: %r", exc)
