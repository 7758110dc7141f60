"""Time arithmetic for boards: epoch milliseconds, the windows of recurring series, and the
range of time a window may lie in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Where a window may start and end (boards, standings ranges). The code steps past a
# window's ends: the standings planner (leaderboards/postgres/scores.py) rounds them out to whole
# hours, days and ISO weeks, a series to its next month, finalisation adds the grace
# period; Python's datetime stops at 9999-12-31, so an end in the last week of it cannot
# be planned (OverflowError). 9000 leaves a thousand years for any such step. No event is
# stamped before 2000 (ingestion/events.py), and rollups and epoch-millisecond times count
# from the epoch, so a window before 1970 is a typo, not a ranking.
WINDOW_EARLIEST = EPOCH
WINDOW_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
WINDOW_RANGE_MESSAGE = (
    f"Must lie between {WINDOW_EARLIEST:%Y-%m-%dT%H:%M:%SZ} and {WINDOW_LATEST:%Y-%m-%dT%H:%M:%SZ}."
)


def validate_window_instant(at: datetime) -> None:
    """A field validator (models, forms, serializers): `at` may bound a window."""
    if not WINDOW_EARLIEST <= at <= WINDOW_LATEST:
        raise ValidationError(WINDOW_RANGE_MESSAGE, code="window_range")


def clamp_window_instant(at: datetime) -> datetime:
    """`at` moved into the range windows may lie in. No event lies outside it, so a window
    stored before the range was enforced ranks the same clamped, and plans without
    overflowing."""
    return min(max(at, WINDOW_EARLIEST), WINDOW_LATEST)


def epoch_millis(at: datetime) -> int:
    """Milliseconds since the epoch, exactly (float timestamps round some of them down)."""
    return (at - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    """One window of a series: [starts_at, ends_at) in UTC, labelled by its local start."""

    starts_at: datetime
    ends_at: datetime
    local_start: date

    def slug(self, series_slug: str, period: str) -> str:
        if period == "monthly":
            return f"{series_slug}-{self.local_start:%Y-%m}"
        return f"{series_slug}-{self.local_start.isoformat()}"

    def name(self, series_name: str, period: str) -> str:
        if period == "monthly":
            return f"{series_name} · {self.local_start:%B %Y}"
        if period == "weekly":
            return f"{series_name} · week of {self.local_start:%d %b %Y}"
        return f"{series_name} · {self.local_start:%a %d %b %Y}"


def _reset_instant(day: date, reset: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in `zone` shows `reset` on `day`. A reset inside a
    spring-forward gap happens at the first instant after it; one inside a fall-back
    repeat happens at its first occurrence."""
    return datetime.combine(day, reset, tzinfo=zone).astimezone(UTC)


def _period_start(day: date, period: str, reset_weekday: int | None) -> date:
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=(day.weekday() - (reset_weekday or 0)) % 7)
    return day.replace(day=1)


def _next_start(day: date, period: str) -> date:
    if period == "daily":
        return day + timedelta(days=1)
    if period == "weekly":
        return day + timedelta(days=7)
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _previous_start(day: date, period: str) -> date:
    if period == "daily":
        return day - timedelta(days=1)
    if period == "weekly":
        return day - timedelta(days=7)
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def series_window_at(
    at: datetime, *, period: str, reset_time: time, reset_weekday: int | None, timezone: str
) -> SeriesWindow:
    """The window of a daily, weekly or monthly series that contains the instant `at`."""
    zone = ZoneInfo(timezone)
    start = _period_start(at.astimezone(zone).date(), period, reset_weekday)
    if at < _reset_instant(start, reset_time, zone):
        start = _previous_start(start, period)
    end = _next_start(start, period)
    return SeriesWindow(
        starts_at=_reset_instant(start, reset_time, zone),
        ends_at=_reset_instant(end, reset_time, zone),
        local_start=start,
    )


def series_windows_from(at: datetime, count: int, **definition) -> list[SeriesWindow]:
    """The window containing `at` and the `count - 1` after it."""
    windows = [series_window_at(at, **definition)]
    while len(windows) < count:
        windows.append(series_window_at(windows[-1].ends_at, **definition))
    return windows
