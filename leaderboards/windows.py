"""Time arithmetic for boards: epoch milliseconds, and the windows of recurring series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_millis(at: datetime) -> int:
    """Milliseconds since the epoch, exactly (float timestamps round some of them down)."""
    return (at - EPOCH) // timedelta(milliseconds=1)
