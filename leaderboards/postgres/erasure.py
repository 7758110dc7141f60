"""The PostgreSQL side of erasing a player (leaderboards/erasure.py runs it, in one
transaction): their deltas, a partition of the log at a time, their rollups, final
standings (the boards they were frozen on re-ranked, others closing up), participations,
league places and the cut-offs of their removed scores.

The log and the rollups have no index on the player (ingestion pays for every index on
every event), so each partition and each rollup table is read through once: the cost of
an erasure grows with the log, not with the player. A partition is the unit of work (and
of the progress logged): without an index, deleting in smaller batches (LIMIT n) would
read the partition again for each batch, and within the one transaction the erasure must
be, batches would free nothing sooner.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from leaderboards.models import Board, BucketMember, FinalStanding, Participant, ScoreCut
from leaderboards.postgres.final import final_standings_rerank
from leaderboards.postgres.partitions import partitions_hold
from leaderboards.ranking import Window

logger = logging.getLogger(__name__)

ROLLUP_TABLES = (
    "leaderboards_hourlyrollup",
    "leaderboards_dailyrollup",
    "leaderboards_weeklyrollup",
)


@dataclass(frozen=True, slots=True)
class DeltasErased:
    rows: int
    latest: datetime | None  # the latest created_at among them


def deltas_erase(*, player_pk: int, label: str) -> DeltasErased:
    """Delete the player's deltas, one partition of the log at a time, logging progress
    under `label` (never the id). The partitions cannot change until the caller's
    transaction ends (partitions_hold), so none is missed. In the caller's transaction."""
    partitions = partitions_hold()
    rows, latest = 0, None
    started = time.monotonic()
    for number, table in enumerate(partitions, start=1):
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH gone AS (DELETE FROM {connection.ops.quote_name(table)}"
                " WHERE player_id = %s RETURNING created_at)"
                " SELECT count(*), max(created_at) FROM gone",
                [player_pk],
            )
            count, last = cursor.fetchone()
        rows += count
        if last is not None and (latest is None or last > latest):
            latest = last
        logger.info(
            "erasure %s: deltas of partition %d of %d (%s): %d, %d in all, %.1f s",
            label,
            number,
            len(partitions),
            table,
            count,
            rows,
            time.monotonic() - started,
        )
    return DeltasErased(rows, latest)


def rollups_erase(*, player_pk: int) -> int:
    """Delete the player's hourly, daily and weekly rollup rows; returns how many."""
    deleted = 0
    with connection.cursor() as cursor:
        for table in ROLLUP_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE player_id = %s", [player_pk])
            deleted += cursor.rowcount
    return deleted


def finals_erase(*, player_pk: int) -> int:
    """Delete the player's final standings and re-rank the boards they were frozen on, as
    a ban does (final_standings_rerank): everyone after them moves up. Returns how many
    rows went."""
    board_ids = list(
        FinalStanding.objects.filter(player_id=player_pk).values_list("board_id", flat=True)
    )
    if not board_ids:
        return 0
    deleted, _ = FinalStanding.objects.filter(player_id=player_pk).delete()
    for board in Board.objects.filter(pk__in=board_ids).select_related("series"):
        final_standings_rerank(Window.of_board(board), board_id=board.pk)
    return deleted


def places_erase(*, player_pk: int) -> int:
    """Delete the player's participations, league places (a bucket keeps its other
    players where they were, one fewer) and score cut-offs (their events are gone with
    them). Returns how many rows went."""
    participations, _ = Participant.objects.filter(player_id=player_pk).delete()
    places, _ = BucketMember.objects.filter(player_id=player_pk).delete()
    cuts, _ = ScoreCut.objects.filter(player_id=player_pk).delete()
    return participations + places + cuts
