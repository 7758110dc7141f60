"""Writes of boards and series: creating and editing them, the windows of series, and
finalisation. The Redis side of these changes is leaderboards/cache/builds.py's."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.timezone import now as timezone_now

from leaderboards.cache.builds import cache_build_board, cache_drop_board_on_commit
from leaderboards.cache.changes import changes_publish
from leaderboards.models import TOURNAMENT_FIELDS, Aggregation, Board, Series, SortOrder, TieBreak
from leaderboards.postgres.final import final_standings_freeze
from leaderboards.ranking import RANKING_FIELDS, Window
from leaderboards.signals import board_finalized, board_started

logger = logging.getLogger(__name__)


def series_create(
    *,
    slug: str,
    name: str,
    period: str,
    metric: str = "score",
    reset_time: dt.time = dt.time(0, 0),
    reset_weekday: int | None = None,
    timezone: str = "UTC",
    aggregation: str = Aggregation.SUM,
    sort_order: str = SortOrder.DESC,
    tie_break: str = TieBreak.PLAYER_ID,
    join_required: bool = False,
    max_participants: int | None = None,
    max_attempts: int | None = None,
    bucket_size: int | None = None,
    now: datetime | None = None,
) -> Series:
    """Create a recurring series; its current window is live at once."""
    series = Series(
        slug=slug,
        name=name,
        period=period,
        metric=metric,
        reset_time=reset_time,
        reset_weekday=reset_weekday,
        timezone=timezone,
        aggregation=aggregation,
        sort_order=sort_order,
        tie_break=tie_break,
        join_required=join_required,
        max_participants=max_participants,
        max_attempts=max_attempts,
        bucket_size=bucket_size,
    )
    series.full_clean()
    with _slug_race_is_a_conflict("Series"), transaction.atomic():
        series.save()
        series_ensure_windows(series, now=now)
    return series


def series_ensure_windows(
    series: Series, *, now: datetime | None = None, ahead: int = 1
) -> list[Board]:
    """The board of the window running now and of the `ahead` next ones, created when
    missing (idempotent: safe to run from several workers at once)."""
    now = now or timezone_now()
    boards = []
    for window in series.windows_from(now, 1 + ahead):
        board, _created = Board.objects.get_or_create(
            slug=window.slug(series.slug, series.period),
            defaults={
                "name": window.name(series.name, series.period),
                "metric": series.metric,
                "starts_at": window.starts_at,
                "ends_at": window.ends_at,
                "aggregation": series.aggregation,
                "sort_order": series.sort_order,
                "tie_break": series.tie_break,
                **{name: getattr(series, name) for name in TOURNAMENT_FIELDS},
                "series": series,
            },
        )
        if board.series_id != series.pk:
            raise ValidationError(
                {"slug": [f"Board {board.slug!r} exists and is not part of this series."]}
            )
        boards.append(board)
    return boards


def series_current_board(series: Series, *, now: datetime | None = None) -> Board:
    return series_ensure_windows(series, now=now, ahead=0)[0]


def board_create(
    *,
    slug: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    metric: str = "score",
    aggregation: str = Aggregation.SUM,
    sort_order: str = SortOrder.DESC,
    tie_break: str = TieBreak.PLAYER_ID,
    join_required: bool = False,
    max_participants: int | None = None,
    max_attempts: int | None = None,
    bucket_size: int | None = None,
) -> Board:
    board = Board(
        slug=slug,
        name=name,
        metric=metric,
        starts_at=starts_at,
        ends_at=ends_at,
        aggregation=aggregation,
        sort_order=sort_order,
        tie_break=tie_break,
        join_required=join_required,
        max_participants=max_participants,
        max_attempts=max_attempts,
        bucket_size=bucket_size,
    )
    board.full_clean()
    with _slug_race_is_a_conflict("Board"), transaction.atomic():
        board.save()
    return board


def board_update(*, board: Board, data: Mapping[str, Any]) -> Board:
    """Change a board's fields. A change to what it ranks drops its cached copy after the
    commit, so the next read builds it again under the new definition."""
    changed = [field for field, value in data.items() if getattr(board, field) != value]
    for field in changed:
        setattr(board, field, data[field])
    board.full_clean()
    with transaction.atomic():
        board.save(update_fields=changed)
        if set(RANKING_FIELDS).intersection(changed):
            cache_drop_board_on_commit(board.pk)
    return board


def board_delete(*, board: Board) -> None:
    """Delete a board (its final standings go with it) and, after the commit, its cached
    copy."""
    board_id = board.pk
    with transaction.atomic():
        board.delete()
        cache_drop_board_on_commit(board_id)


@contextmanager
def _slug_race_is_a_conflict(model: str) -> Iterator[None]:
    """full_clean checks that a slug is free; a create that loses the race for it after the
    check fails on the unique index instead, and is reported the same way."""
    try:
        yield
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"{model} with this Slug already exists."]}) from exc


def series_rollover(*, now: datetime | None = None) -> list[Board]:
    """For every series, make sure the running and the next window exist, and warm both in
    Redis so the first reads after a reset are served from the cache. The running window
    is announced (`board_started`) on every run: receivers act once per board."""
    boards = []
    for series in Series.objects.all():
        running, *ahead = series_ensure_windows(series, now=now, ahead=1)
        for board in (running, *ahead):
            boards.append(board)
            cache_build_board(board)
        transaction.on_commit(
            partial(board_started.send, sender=Board, board_id=running.pk), robust=True
        )
    return boards


def board_finalize(board_id: int, *, now: datetime | None = None) -> bool:
    """Freeze a board's standings into final rows (once: a second call, or one running at
    the same time, does nothing) and evict it from Redis. True if this call froze it."""
    with transaction.atomic():
        board = (
            Board.objects.select_for_update(skip_locked=True)
            .filter(pk=board_id, finalized_at__isnull=True)
            .first()
        )
        if board is None:
            return False
        ranked = final_standings_freeze(Window.of_board(board), board_id=board.pk)
        board.finalized_at = now or timezone_now()
        board.reopened_at = None
        board.save(update_fields=["finalized_at", "reopened_at"])
        cache_drop_board_on_commit(board_id)
        transaction.on_commit(
            partial(board_finalized.send, sender=Board, board_id=board_id), robust=True
        )
        # Open streams of the board send its final standings and end (never raises).
        transaction.on_commit(partial(changes_publish, finalized=[board_id]))
    logger.info("finalized board=%s players=%d", board.slug, ranked)
    return True


def boards_finalize_due(*, now: datetime | None = None) -> list[int]:
    """Finalise every board whose window ended more than the grace period ago, except
    those staff reopened (leaderboards/moderation.py): they finalise those by hand."""
    now = now or timezone_now()
    grace = timedelta(seconds=settings.LEADERBOARD_FINALIZE_GRACE_SECONDS)
    due = Board.objects.ended(now - grace).filter(reopened_at__isnull=True)
    return [
        board_id
        for board_id in due.values_list("pk", flat=True)
        if board_finalize(board_id, now=now)
    ]
