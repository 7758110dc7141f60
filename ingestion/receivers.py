"""What ingestion does when leaderboards erases a player (leaderboards/signals.py): the
rejected events that hold the id or the name go, in the erasure's transaction. Connected
in apps.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.dispatch import receiver

from ingestion.services import rejected_events_forget
from leaderboards.signals import player_erasing

logger = logging.getLogger(__name__)


@receiver(player_erasing)
def rejected_events_erase(sender: Any, player_id: str, names: Sequence[str], **kwargs: Any) -> None:
    deleted = rejected_events_forget(texts=[player_id, *names])
    if deleted:
        logger.info("erasure: %d rejected events deleted", deleted)
