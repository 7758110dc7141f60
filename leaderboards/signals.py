"""What keeps Redis's copies of definitions and names true to PostgreSQL, whoever writes:
services, the admin, finalisation. Connected in leaderboards/apps.py.

- A board or series saved or deleted: the definitions catalog (leaderboards/cache/catalog.py) is
  forgotten at once, so this process reads the change straight away, and again after the
  commit, so no other process keeps a copy read in between.
- A league board saved: the players who scored on it already get their places.
- A player saved: its display name goes to Redis after the commit (the read scripts answer
  with it); deleted, it is shown by its id until the board no longer holds it. A name
  whose write found Redis unreachable is put right by the cache sync's drift check.

Bulk writes (`QuerySet.update`, `bulk_create`) send no signals; none of them touch what
reads show (`late_events` is not shown; new players have no name yet), except the
consumer's renames from events, which it sends to Redis itself after its commit.

It also defines the domain signals leaderboards sends for the apps above it (webhooks/,
ingestion/), which it never imports: `board_started` and `board_finalized`, both sent after
the commit of what they announce, with `board_id` (services.py says when), and
`player_erasing`, sent inside an erasure's transaction (erasure.py).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from leaderboards.cache.catalog import catalog
from leaderboards.cache.names import cache_names_set
from leaderboards.leagues import buckets_assign_existing
from leaderboards.models import Board, Series
from players.models import Player

# A board's window is running: sent by the series rollover for each series' current window,
# once a minute while it runs, so a receiver must act once per board (at least once, not
# exactly once). Arguments: board_id.
board_started = Signal()
# A board's standings are frozen (services.board_finalize): sent once, after the commit.
# Arguments: board_id.
board_finalized = Signal()
# A player is being erased (erasure.py): sent inside the erasure's transaction, so what a
# receiver deletes or redacts commits or rolls back with the rest. Arguments: player_id,
# names (the display names to forget with the id). A receiver must not raise but for a
# database error (which rolls the erasure back, to be tried again).
player_erasing = Signal()


@receiver(post_save, sender=Board)
@receiver(post_delete, sender=Board)
@receiver(post_save, sender=Series)
@receiver(post_delete, sender=Series)
def definition_changed(sender, **kwargs) -> None:
    catalog.invalidate()
    transaction.on_commit(catalog.invalidate)


@receiver(post_save, sender=Board)
def league_saved(sender, instance: Board, **kwargs) -> None:
    """A league board saved (new, or given a bucket size): place the players who scored on
    it already (leaderboards/leagues.py)."""
    if instance.bucket_size is not None and instance.finalized_at is None:
        buckets_assign_existing(instance)


@receiver(post_save, sender=Player)
def player_saved(sender, instance: Player, **kwargs) -> None:
    names = {instance.external_id: instance.display_name}
    transaction.on_commit(lambda: cache_names_set(names))


@receiver(post_delete, sender=Player)
def player_deleted(sender, instance: Player, **kwargs) -> None:
    names = {instance.external_id: ""}
    transaction.on_commit(lambda: cache_names_set(names))
