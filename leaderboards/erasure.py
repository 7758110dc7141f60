"""Erasing a player (issue 21, GDPR article 17): everything that holds the id or the display
name goes; a keyed hash of the id stays behind (a tombstone), so that an event sent again
cannot bring the player back.

What goes, in one PostgreSQL transaction (a database that fails midway rolls all of it
back, and erasing again does it all):

- the player's deltas, a partition of the log at a time with progress in the logs, their
  hourly, daily and weekly rollups, final standings (the boards re-ranked: everyone after
  them moves up), participations and league places (postgres/erasure.py);
- what the apps above leaderboards hold (the `player_erasing` signal): rejected events
  holding the id or the name (ingestion), and the stored bodies of webhook messages
  naming the player, redacted (webhooks);
- the audit entries naming the player, rewritten to the hash, the admin's history of the
  row, the row itself; in its place the tombstone (hash, erased_at) and an `erase` audit
  entry holding the hash only (players/erasure.py).

Then, after the commit, Redis (cache/erasure.py): every cached board dropped and rebuilt
from PostgreSQL, the names hash's field deleted. Redis failing is reported (the API
answers 503); erasing again finds the tombstone, redoes the Redis part, and is done.

`erased_at` is the time of the erasure, or of the latest erased event if that is later
(events may be stamped a little ahead of the clock): every erased event is stamped at or
before it.

Replays. Kafka keeps what producers sent, and producers retry: an event of the erased
player may arrive again, with its event_id or without, through Kafka or the HTTP events
API (which produces to Kafka). The log no longer holds its dedupe key; the tombstone
decides. At ingestion (players/services.py's players_ensure_checked, from
recording.py) an id without a row, or a row made elsewhere and not checked yet, is
hashed and looked up among the tombstones, one query per batch; a row the check created
carries the answer (`Player.replays_until`), so the players that exist cost neither a
hash nor a query. The id's events stamped at or before erased_at are dropped, neither
stored nor rejected, counted in `leaderboards_events_erased` and logged without the id;
one stamped after starts a new player from zero, whose row keeps `replays_until`, so that
replays arriving after it are dropped as well. Rejected messages naming an erased id and
sent before the erasure are dropped the same way (ingestion/services.py).

The race with a batch the consumer stores meanwhile. The erasure locks the player's row
(FOR UPDATE) before it deletes anything. A batch that stores a delta for the player
locks that row (KEY SHARE) after its insert, in one statement for all the batch's players
(players.services.players_hold: the log has no foreign key, whose check per row at commit
cost more than the insert); one that stores a league place needs the row at its commit,
where the deferred foreign key checks it with the same lock. So:

- a batch that committed before the lock is seen by every delete after it: its deltas go;
- a batch that locks later waits for the erasure, then finds the row gone and fails
  (IntegrityError). The consumer forgets its cached keys and stores the batch again
  (ingestion/consumer.py): the id has no row now, the batch creates one and reads the
  tombstone, which has committed, and drops the replays;
- a batch that creates the player's row while the erasure runs waits in the insert's
  unique check for the erasure's deleted row, so it creates a new row only once the
  tombstone has committed. The tombstone is read by a statement after the insert: folded
  into the insert, it would be read with the insert's snapshot, taken before the wait,
  and miss the tombstone.

Other writers that refer to the player (rollups, finalisation, joins) fail the same way
and run again. `partitions_hold` keeps the log's partitions from changing while it is
worked through. Rejected events and webhook messages have no foreign key: their writers
take a lock on the table that conflicts with the erasure's (ROW EXCLUSIVE against SHARE)
before reading what decides their content, so either the erasure sees their rows or they
see its commit. The checks of the deleted row's foreign keys (a read of every table that
refers to players) run before those table locks are taken, not at commit, so the tables
are held only for a moment.

One interleaving deadlocks, and PostgreSQL breaks it: a batch that holds the player's old
key and also stores a rejection has taken the rejected events' lock and waits, at its
commit, for the player's row, while the erasure waits for that lock. Whichever is picked
is rolled back and tried again (the consumer's database retry; the API's 503).

Left to chance: a consumer that committed a rename of the player before the erasure took
the lock, and stalls between that commit and its Redis step for longer than the whole
erasure, puts the name back in the names hash; erasing again clears it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from leaderboards.cache.erasure import cache_erase_player
from leaderboards.postgres.erasure import deltas_erase, finals_erase, places_erase, rollups_erase
from leaderboards.signals import player_erasing
from players.audit import Actor, audit_record, player_hash
from players.erasure import player_forget, tombstone_exists
from players.models import AuditAction, Player

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Erasure:
    player_hash: str
    erased_at: datetime | None  # None: erased before; this call only redid the Redis part
    deltas: int  # deltas deleted
    rows: int  # other rows deleted: rollups, final standings, participations, places
    # Whether Redis holds nothing of the player; None when it is done after the caller's
    # transaction commits.
    redis_cleaned: bool | None = None


def player_erase(*, player_id: str, actor: Actor, reason: str = "") -> Erasure:
    """Erase the player (Http404 if unknown and never erased): see the module docstring.
    Erasing an erased player does the Redis part again, and records nothing. Called in a
    transaction, the Redis part runs once it commits; otherwise at once, and the result
    says whether it succeeded."""
    hashed = player_hash(player_id)
    label = hashed[:12]  # what the logs call the erasure: never the id
    erasure = _erase_in_postgres(player_id=player_id, hashed=hashed, actor=actor, reason=reason)
    redis_part = partial(cache_erase_player, player_id=player_id, label=label)
    if connection.in_atomic_block:
        transaction.on_commit(redis_part)
        return erasure
    return replace(erasure, redis_cleaned=redis_part())


@transaction.atomic
def _erase_in_postgres(*, player_id: str, hashed: str, actor: Actor, reason: str) -> Erasure:
    player = (
        Player.objects.select_for_update().filter(external_id=player_id).first()
        if "\x00" not in player_id
        else None
    )
    if player is None:
        if tombstone_exists(hashed):
            return Erasure(player_hash=hashed, erased_at=None, deltas=0, rows=0)
        raise Http404(f"No player {player_id!r}.")
    label = hashed[:12]
    started = time.monotonic()
    deltas = deltas_erase(player_pk=player.pk, label=label)
    rows = (
        rollups_erase(player_pk=player.pk)
        + finals_erase(player_pk=player.pk)
        + places_erase(player_pk=player.pk)
    )
    now = timezone.now()
    erased_at = max(now, deltas.latest) if deltas.latest is not None else now
    names = [player.display_name] if player.display_name else []
    # Recorded first: player_forget redacts the id and the name in every entry's reason.
    audit_record(action=AuditAction.ERASE, actor=actor, reason=reason, player_id=player_id)
    player_forget(player=player, hashed=hashed, erased_at=erased_at)
    with connection.cursor() as cursor:
        # The deleted row's foreign keys are checked now rather than at commit (a read of
        # every table that refers to players): the table locks below are held till commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    player_erasing.send(sender=Player, player_id=player_id, names=names)
    logger.info(
        "erasure %s: %d deltas and %d other rows in %.1f s",
        label,
        deltas.rows,
        rows,
        time.monotonic() - started,
    )
    return Erasure(player_hash=hashed, erased_at=erased_at, deltas=deltas.rows, rows=rows)
