"""The score delta log, the consumer offsets stored with it, and what is derived from it:
final standings and the hourly, daily and weekly rollups."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from leaderboards.models.boards import METRIC_MAX_LENGTH, Board
from players.models import Player


class ScoreDelta(models.Model):
    """One accepted score event. Boards aggregate these by window; nothing is ever updated.

    The table is partitioned by week of `created_at` (leaderboards/postgres/partitions.py), and a
    partitioned table's unique keys must hold the partition key: the primary key is
    (dedupe_key, created_at). That a dedupe key (a UUID derived from the event id, or from
    player, metric and event time) is stored once whatever its `created_at` is the batch
    insert's work (leaderboards/postgres/deltas.py).
    """

    pk = models.CompositePrimaryKey("dedupe_key", "created_at")
    dedupe_key = models.UUIDField()
    # No foreign key in the database: the consumer locks the batch's players instead
    # (players.services.players_hold; leaderboards/erasure.py says why).
    player = models.ForeignKey(
        Player,
        on_delete=models.PROTECT,
        related_name="deltas",
        db_index=False,
        db_constraint=False,
    )
    metric = models.CharField(max_length=METRIC_MAX_LENGTH)
    delta = models.BigIntegerField()
    created_at = models.DateTimeField()
    ingested_at = models.DateTimeField(db_default=Now())

    class Meta:
        indexes = [
            # Board builds and standings scan one metric over a time range.
            models.Index(fields=["metric", "created_at"], name="delta_metric_time"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.player_id} {self.metric} {self.delta:+d} @ {self.created_at:%Y-%m-%d %H:%M:%S}"
        )


class ConsumerOffset(models.Model):
    """The next offset to read per topic-partition, written in the same transaction as the
    deltas it covers: the database, not Kafka, is the truth about what has been stored, and
    a cache build reads these with its snapshot to know which batches it already holds."""

    topic = models.CharField(max_length=255)
    partition = models.IntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "partition"], name="offset_topic_partition")
        ]
        ordering = ["topic", "partition"]

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] @ {self.next_offset}"


class FinalStanding(models.Model):
    """A board's ranking frozen once its window ended and the grace period passed."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="final_standings")
    # 1-based place in board order among every player who scored, banned ones included,
    # so a ban or an unban re-ranks the frozen rows without the log (postgres/final.py).
    place = models.PositiveIntegerField()
    # 1-based place and rank among the players shown (not banned); both null for a banned
    # player. rank is the competition rank, or the place for the `earliest` tie-break.
    position = models.PositiveIntegerField(null=True)
    rank = models.PositiveIntegerField(null=True)
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+")
    score = models.BigIntegerField()

    class Meta:
        ordering = ["board", "position"]
        constraints = [
            models.UniqueConstraint(fields=["board", "position"], name="final_board_position"),
            models.UniqueConstraint(fields=["board", "player"], name="final_board_player"),
        ]

    def __str__(self) -> str:
        return f"{self.board_id} #{self.rank} {self.player_id} {self.score}"


class RollupBase(models.Model):
    """Aggregates of one player's deltas of one metric in one time bucket, as far as the
    rollup watermark (deltas ingested before it); `last*` identify the latest event, and
    `best_at` / `worst_at` when the best / worst value was first reached."""

    metric = models.CharField(max_length=METRIC_MAX_LENGTH)
    bucket = models.DateTimeField()
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+", db_index=False)
    total = models.BigIntegerField()
    best = models.BigIntegerField()
    worst = models.BigIntegerField()
    count = models.BigIntegerField()
    # The event time of the first event with the best (worst) value: the `earliest` tie-break.
    best_at = models.DateTimeField()
    worst_at = models.DateTimeField()
    last = models.BigIntegerField()
    last_at = models.DateTimeField()
    last_ingested_at = models.DateTimeField()
    last_key = models.UUIDField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.metric} {self.bucket:%Y-%m-%d %H:%M} {self.player_id}: {self.total}"


class HourlyRollup(RollupBase):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "bucket", "player"], name="hourly_rollup_key")
        ]


class DailyRollup(RollupBase):
    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "bucket", "player"], name="daily_rollup_key")
        ]


class WeeklyRollup(RollupBase):
    """ISO weeks: buckets start on Monday 00:00 UTC."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "bucket", "player"], name="weekly_rollup_key")
        ]


class RollupWatermark(models.Model):
    """Rollups hold every delta ingested before `ingested_before` (one row)."""

    ingested_before = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"rollups before {self.ingested_before:%Y-%m-%d %H:%M:%S}"


class DeltaLogHorizon(models.Model):
    """Where the retention task has dropped the delta log (one row, none until it first
    drops): every delta stamped at or after `complete_from` is in the log; before it only
    the weeks whose partitions were kept (leaderboards/postgres/partitions.py)."""

    complete_from = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"delta log complete from {self.complete_from:%Y-%m-%d}"
