"""Boards (time windows over a metric) and recurring series of them, their tournament and
league rules, and the players who joined or were bucketed on them."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from leaderboards.aggregations import Aggregation
from leaderboards.windows import SeriesWindow, series_windows_from, validate_window_instant
from players.models import Player

METRIC_MAX_LENGTH = 64
# What a metric name may hold: letters, digits and _ . : -
METRIC_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


class SortOrder(models.TextChoices):
    DESC = "desc", "Highest first"
    ASC = "asc", "Lowest first"


class TieBreak(models.TextChoices):
    """How equal scores are ordered (leaderboards/ranking.py)."""

    PLAYER_ID = "player_id", "Competition ranks, ties by player id"
    EARLIEST = "earliest", "Ordinal ranks, whoever reached the score first"


TIE_BREAK_HELP = (
    "How equal scores rank. player_id: competition ranks (50, 40, 40 rank 1, 2, 2), ties "
    "ordered by player id. earliest: ordinal ranks (1, 2, 3), whoever reached the score first "
    "ahead: for max and min the first event with the best value, for sum the latest event "
    "counted, for last that event."
)


def tie_break_field() -> models.CharField:
    return models.CharField(
        max_length=9,
        choices=TieBreak.choices,
        default=TieBreak.PLAYER_ID,
        help_text=TIE_BREAK_HELP,
    )


class TournamentRules(models.Model):
    """What makes a board, or every window of a series, a tournament (players join first,
    places may be limited, and only a player's first attempts count) or a league (its
    players split into buckets)."""

    join_required = models.BooleanField(
        default=False,
        help_text="Only participants' events stamped at or after their join time count.",
    )
    max_participants = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many participants (empty: no limit)."
    )
    max_attempts = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Only each player's first N events that would otherwise count, by "
        "created_at (empty: no limit).",
    )

    bucket_size = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="A league: players split into buckets of at most this many, in the order "
        "they first score, each ranked on its own (empty: one ranking).",
    )

    class Meta:
        abstract = True

    @property
    def is_tournament(self) -> bool:
        return self.join_required or self.max_attempts is not None


# What a series hands each of its boards besides its ranking (leaderboards/services.py).
TOURNAMENT_FIELDS = tuple(field.name for field in TournamentRules._meta.local_fields)
TOURNAMENT_LIMIT_MAX = 2**31 - 1  # a PositiveIntegerField's


class BoardStatus(models.TextChoices):
    UPCOMING = "upcoming", "Upcoming"
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"
    FINALIZED = "finalized", "Finalized"


class Period(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class Series(TournamentRules):
    """A recurring board: one window per day, week or month, following wall-clock time in
    its time zone (a daily Europe/Berlin window lasts 23 or 25 hours across DST changes)."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=METRIC_MAX_LENGTH, default="score")
    period = models.CharField(max_length=8, choices=Period.choices)
    reset_time = models.TimeField(default=datetime.time(0, 0))
    # Weekly series only: the day the window resets, 0 = Monday.
    reset_weekday = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(6)]
    )
    timezone = models.CharField(max_length=64, default="UTC")
    aggregation = models.CharField(
        max_length=8, choices=Aggregation.choices, default=Aggregation.SUM
    )
    sort_order = models.CharField(max_length=4, choices=SortOrder.choices, default=SortOrder.DESC)
    tie_break = tie_break_field()
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "series"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(period="weekly") | models.Q(reset_weekday__isnull=False),
                name="series_weekly_needs_weekday",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def windows_from(self, now: datetime.datetime, count: int) -> list[SeriesWindow]:
        """The window running at `now` and the `count - 1` after it."""
        return series_windows_from(
            now,
            count,
            period=self.period,
            reset_time=self.reset_time,
            reset_weekday=self.reset_weekday,
            timezone=self.timezone,
        )

    def clean(self) -> None:
        errors = {}
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = [
                f"{self.timezone!r} is not an IANA time zone, e.g. Europe/Berlin."
            ]
        if self.period == Period.WEEKLY and self.reset_weekday is None:
            errors["reset_weekday"] = [
                "A weekly series needs the weekday it resets on (0 = Monday)."
            ]
        if self.period != Period.WEEKLY and self.reset_weekday is not None:
            errors["reset_weekday"] = ["Only weekly series reset on a weekday."]
        if errors:
            raise ValidationError(errors)


class BoardQuerySet(models.QuerySet):
    """Boards by where their window stands at `now`, as Board.status_at tells it."""

    def finalized(self) -> BoardQuerySet:
        return self.filter(finalized_at__isnull=False)

    def upcoming(self, now: datetime.datetime) -> BoardQuerySet:
        return self.filter(finalized_at__isnull=True, starts_at__gt=now)

    def live(
        self, now: datetime.datetime, *, grace: datetime.timedelta | None = None
    ) -> BoardQuerySet:
        """Open at `now` and not finalised; with `grace`, also those that ended less than
        `grace` ago (their late events still count)."""
        open_after = now - grace if grace else now
        return self.filter(finalized_at__isnull=True, starts_at__lte=now).filter(
            models.Q(ends_at__isnull=True) | models.Q(ends_at__gt=open_after)
        )

    def ended(self, now: datetime.datetime) -> BoardQuerySet:
        """Past their window, not finalised yet."""
        return self.filter(finalized_at__isnull=True, ends_at__lte=now)

    def with_status(self, status: str, now: datetime.datetime) -> BoardQuerySet:
        if status == BoardStatus.UPCOMING:
            return self.upcoming(now)
        if status == BoardStatus.LIVE:
            return self.live(now)
        if status == BoardStatus.ENDED:
            return self.ended(now)
        return self.finalized()


class Board(TournamentRules):
    """A ranking of one metric over the window [starts_at, ends_at); ends_at null = open."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=METRIC_MAX_LENGTH, default="score")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    aggregation = models.CharField(
        max_length=8, choices=Aggregation.choices, default=Aggregation.SUM
    )
    sort_order = models.CharField(max_length=4, choices=SortOrder.choices, default=SortOrder.DESC)
    tie_break = tie_break_field()
    series = models.ForeignKey(
        Series, null=True, blank=True, on_delete=models.PROTECT, related_name="boards"
    )
    # Set when the window's standings were frozen into FinalStanding rows.
    finalized_at = models.DateTimeField(null=True, blank=True)
    # Events stored for this window after it was finalised: kept, but not in its results.
    late_events = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # When staff last reopened the board (leaderboards/moderation.py): a reopened board is
    # finalised again by hand, never by the periodic task; cleared when it is finalised.
    reopened_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    objects = BoardQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="board_window_not_empty",
            )
        ]
        indexes = [models.Index(fields=["metric", "starts_at"], name="board_metric_start")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        starts_at, ends_at = self.starts_at, self.ends_at
        errors = {}
        # Every way a board is made (API, admin) cleans it: the range is enforced here.
        for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
            if value is not None:
                try:
                    validate_window_instant(value)
                except ValidationError as error:
                    errors[name] = error.messages
        # The check constraint holds the database to it; this says so on the field.
        if not errors and starts_at is not None and ends_at is not None and ends_at <= starts_at:
            errors["ends_at"] = ["Must be after starts_at (the window is [starts_at, ends_at))."]
        if errors:
            raise ValidationError(errors)

    def status_at(self, now) -> str:
        if self.finalized_at is not None:
            return BoardStatus.FINALIZED
        if now < self.starts_at:
            return BoardStatus.UPCOMING
        if self.ends_at is not None and now >= self.ends_at:
            return BoardStatus.ENDED
        return BoardStatus.LIVE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    def covers(self, metric: str, at) -> bool:
        """Whether a delta of `metric` stamped `at` counts on this board."""
        return (
            metric == self.metric
            and at >= self.starts_at
            and (self.ends_at is None or at < self.ends_at)
        )


class ScoreCut(models.Model):
    """A player's score removed from one board (issue 21): their deltas stamped at or
    before `cut_at` no longer count on it, later ones do, from zero. One per (board,
    player); a second removal moves `cut_at` on (leaderboards/moderation.py)."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="score_cuts")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+")
    cut_at = models.DateTimeField()

    class Meta:
        # The consumer asks for the cuts of a batch's players (leaderboards/cache/apply.py)
        # through the player's index, which a foreign key has.
        constraints = [models.UniqueConstraint(fields=["board", "player"], name="score_cut_once")]

    def __str__(self) -> str:
        return f"{self.player_id} on {self.board_id} up to {self.cut_at:%Y-%m-%d %H:%M:%S}"


class Participant(models.Model):
    """A player who joined a board. On a board with `join_required`, only participants'
    events stamped at or after `joined_at` count."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="participants")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+")
    joined_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [models.UniqueConstraint(fields=["board", "player"], name="participant_once")]
        indexes = [models.Index(fields=["board", "joined_at"], name="participant_join_order")]

    def __str__(self) -> str:
        return f"{self.player_id} on {self.board_id}"


class BucketMember(models.Model):
    """A league board's player and their place in the order players first scored on it
    (from 1); their bucket is (position - 1) // bucket_size + 1. Never changes once given."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="bucket_members")
    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["board", "player"], name="bucket_member_once"),
            models.UniqueConstraint(fields=["board", "position"], name="bucket_member_position"),
        ]

    def __str__(self) -> str:
        return f"{self.player_id} #{self.position} on {self.board_id}"
