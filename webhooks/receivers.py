"""What webhooks does when leaderboards announces a board's start or its finalisation
(leaderboards/signals.py): publish the message and queue its deliveries after the
commit; and when it erases a player: redact the stored messages naming them, in the
erasure's transaction. Connected in apps.py."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from leaderboards.signals import board_finalized, board_started, player_erasing
from webhooks import services
from webhooks.models import Event
from webhooks.tasks import deliveries_enqueue


@receiver(board_started)
def board_started_publish(sender: Any, board_id: int, **kwargs: Any) -> None:
    _publish(Event.BOARD_STARTED, board_id)


@receiver(board_finalized)
def board_finalized_publish(sender: Any, board_id: int, **kwargs: Any) -> None:
    _publish(Event.BOARD_FINALIZED, board_id)


@receiver(player_erasing)
def player_erasing_redact(sender: Any, player_id: str, names: Sequence[str], **kwargs: Any) -> None:
    services.messages_redact(player_id=player_id, names=names)


def _publish(event: str, board_id: int) -> None:
    with transaction.atomic():
        delivery_ids = services.board_event_publish(event=event, board_id=board_id)
        if delivery_ids:
            transaction.on_commit(partial(deliveries_enqueue, delivery_ids))
