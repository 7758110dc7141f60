"""Recording a batch of scores: the one service the consumer (ingestion/consumer.py) calls
to write what a batch changes in PostgreSQL, and then to publish it to the cached boards.

`scores_record_batch` is step 3 of the consumer's loop, inside the consumer's transaction:
unknown players created, replays of erased players' events dropped (leaderboards/erasure.py
says why they are replays and how the race with an erasure goes), the deltas inserted
(duplicates skipped by their dedupe key),
display names that changed, events counted late or not counted by tournament rules,
league buckets assigned, and the next offset per partition, all in one transaction with
what the consumer stores of its own (rejected events). `scores_publish_batch` is step 4,
after the commit: the new deltas onto every cached Redis board, fenced by offsets, and
one change notice naming the boards that changed (leaderboards/cache/changes.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from django.db import transaction

from leaderboards.cache.apply import cache_apply_batch
from leaderboards.cache.builds import cache_drop_all
from leaderboards.cache.changes import changes_publish
from leaderboards.cache.names import cache_names_set
from leaderboards.leagues import buckets_assign_batch
from leaderboards.postgres.deltas import (
    DeltaRow,
    deltas_count_late,
    deltas_insert_batch,
    offsets_for_topic,
    offsets_save,
)
from leaderboards.tournaments import tournaments_uncounted
from players.services import (
    players_discard,
    players_ensure_checked,
    players_hold,
    players_rename,
)


class Score(Protocol):
    """What a batch's event says about a score (ingestion.events.ScoreEvent is one)."""

    player_id: str
    metric: str
    delta: int
    created_at: datetime
    dedupe_key: UUID
    event_id: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class RecordedBatch:
    new: list[DeltaRow]  # the deltas that were not stored before
    # Players' keys looked up, sure to exist once committed, which the caller may keep:
    # not those of an erased player's id (their every batch is checked for replays).
    looked_up: dict[str, int]
    late: int  # new deltas in windows already finalised
    uncounted: int  # new deltas a tournament's rules leave out
    renamed: dict[str, str] = field(default_factory=dict)  # display names that changed
    erased: int = 0  # events dropped: replays of an erased player's, stamped before it


@transaction.atomic(savepoint=False)
def scores_record_batch(
    *,
    topic: str,
    scores: Sequence[tuple[int, Score]],
    next_offsets: Mapping[int, int],
    known_players: Mapping[str, int] | None = None,
) -> RecordedBatch:
    """Store a batch's (partition, score) pairs and the next offset per partition of
    `topic`, in one transaction (the caller's, when it has one). `known_players`
    (external id -> key) saves the lookup of players known to exist."""
    known = known_players or {}
    ensured = players_ensure_checked(
        external_ids=[score.player_id for _, score in scores if score.player_id not in known]
    )
    player_pks = {**known, **ensured.pks} if ensured.pks else known
    erased = 0
    if ensured.replays_until:
        kept = without_replays(scores, ensured.replays_until)
        erased, scores = len(scores) - len(kept), kept
        # A player this batch created only for replays is no player at all.
        named = {score.player_id for _, score in scores}
        players_discard(
            pks=[player_pks[i] for i in ensured.created & (ensured.replays_until.keys() - named)]
        )
    rows = [
        DeltaRow(
            dedupe_key=score.dedupe_key,
            player_pk=player_pks[score.player_id],
            player_id=score.player_id,
            metric=score.metric,
            delta=score.delta,
            created_at=score.created_at,
            partition=partition,
            by_event_id=score.event_id is not None,
        )
        for partition, score in scores
    ]
    new = deltas_insert_batch(rows=rows)
    # The log has no foreign key to the players (a check per row at commit cost the batch
    # more than its insert): one lock on the players it now refers to stands in for it.
    players_hold(pks={row.player_pk for row in new})
    renamed = players_rename(names=latest_names(score for _, score in scores))
    late = deltas_count_late(rows=new)
    uncounted = tournaments_uncounted(rows=new)
    buckets_assign_batch(rows=new)
    offsets_save(topic=topic, next_offsets=dict(next_offsets))
    looked_up = {i: pk for i, pk in ensured.pks.items() if i not in ensured.replays_until}
    return RecordedBatch(
        new=new,
        looked_up=looked_up,
        late=late,
        uncounted=uncounted,
        renamed=renamed,
        erased=erased,
    )


def without_replays(
    scores: Sequence[tuple[int, Score]], replays_until: Mapping[str, datetime]
) -> list[tuple[int, Score]]:
    """The scores that are not replays of an erased player's events: those of an erased
    id stamped at or before its erasure go (leaderboards/erasure.py)."""
    return [
        (partition, score)
        for partition, score in scores
        if score.player_id not in replays_until or score.created_at > replays_until[score.player_id]
    ]


def latest_names(scores: Iterable[Score]) -> dict[str, tuple[str, datetime]]:
    """Each player's display name from the batch's latest event carrying one (by
    created_at; the later message on a tie)."""
    names: dict[str, tuple[str, datetime]] = {}
    for score in scores:
        if score.display_name is not None:
            seen = names.get(score.player_id)
            if seen is None or seen[1] <= score.created_at:
                names[score.player_id] = (score.display_name, score.created_at)
    return names


def scores_publish_batch(
    *,
    new: Sequence[DeltaRow],
    positions: dict[int, tuple[int, int]],
    renamed: dict[str, str],
    offsets_restarted: bool = False,
) -> dict[int, str]:
    """After the commit: a recorded batch's new deltas onto every cached board, fenced by
    `positions` (partition -> [from, to) offsets), and its changed names beside them.
    `offsets_restarted` (a broker that lost its log) drops every cached board first: the
    fences can no longer tell what a board holds. Then one change notice names the boards
    the batch changed, for the streams (it never raises). Returns each board's outcome."""
    if offsets_restarted:
        cache_drop_all()
    applied = cache_apply_batch(deltas=new, positions=positions)
    applied_at = time.time()
    cache_names_set(renamed)
    changes_publish(boards=applied.changed, at=applied_at)
    return applied.outcomes


def consumer_offsets(*, topic: str) -> dict[int, int]:
    """The next offset to read per partition of `topic`, as stored with the deltas."""
    return offsets_for_topic(topic=topic)
