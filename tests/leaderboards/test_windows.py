from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from leaderboards.windows import (
    WINDOW_EARLIEST,
    WINDOW_LATEST,
    WINDOW_RANGE_MESSAGE,
    clamp_window_instant,
    epoch_millis,
    series_window_at,
    series_windows_from,
    validate_window_instant,
)

BERLIN_DAILY = {
    "period": "daily",
    "reset_time": time(2, 0),
    "reset_weekday": None,
    "timezone": "Europe/Berlin",
}


def test_a_daily_berlin_window_runs_from_two_to_two_local_time():
    window = series_window_at(datetime(2026, 11, 22, 12, tzinfo=UTC), **BERLIN_DAILY)
    assert window.starts_at == datetime(2026, 11, 22, 1, tzinfo=UTC)  # 02:00 CET
    assert window.ends_at == datetime(2026, 11, 23, 1, tzinfo=UTC)
    assert window.slug("berlin-daily", "daily") == "berlin-daily-2026-11-22"


def test_before_the_reset_time_the_previous_day_is_still_running():
    window = series_window_at(datetime(2026, 11, 22, 0, 30, tzinfo=UTC), **BERLIN_DAILY)
    assert window.local_start.isoformat() == "2026-11-21"


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (datetime(2026, 3, 29, 12, tzinfo=UTC), 23),  # clocks go forward on Sunday 29 March
        (datetime(2026, 10, 25, 12, tzinfo=UTC), 25),  # and back on Sunday 25 October
        (datetime(2026, 6, 1, 12, tzinfo=UTC), 24),
    ],
)
def test_daily_berlin_windows_last_23_or_25_hours_across_dst(day, hours):
    window = series_window_at(day, **{**BERLIN_DAILY, "reset_time": time(0, 0)})
    assert window.ends_at - window.starts_at == timedelta(hours=hours)


def test_a_reset_inside_the_spring_forward_gap_happens_right_after_it():
    # 02:30 does not exist in Berlin on 29 March 2026.
    window = series_window_at(
        datetime(2026, 3, 29, 12, tzinfo=UTC), **{**BERLIN_DAILY, "reset_time": time(2, 30)}
    )
    assert window.starts_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_weekly_windows_reset_on_their_weekday():
    window = series_window_at(
        datetime(2026, 11, 25, 12, tzinfo=UTC),  # a Wednesday
        period="weekly",
        reset_time=time(18, 0),
        reset_weekday=4,
        timezone="America/New_York",
    )
    assert window.local_start.isoformat() == "2026-11-20"  # the Friday before
    assert window.starts_at == datetime(2026, 11, 20, 23, tzinfo=UTC)  # 18:00 EST
    assert window.ends_at - window.starts_at == timedelta(days=7)


def test_monthly_windows_start_on_the_first():
    window = series_window_at(
        datetime(2026, 2, 10, tzinfo=UTC),
        period="monthly",
        reset_time=time(0, 0),
        reset_weekday=None,
        timezone="Asia/Tokyo",
    )
    assert window.starts_at == datetime(2026, 1, 31, 15, tzinfo=UTC)
    assert window.ends_at == datetime(2026, 2, 28, 15, tzinfo=UTC)
    assert window.slug("monthly", "monthly") == "monthly-2026-02"


@given(
    at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    period=st.sampled_from(["daily", "weekly", "monthly"]),
    reset=st.times(),
    weekday=st.integers(0, 6),
    zone=st.sampled_from(
        [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "Pacific/Chatham",
        ]
    ),
)
def test_windows_contain_their_instant_and_tile_time_without_gaps(at, period, reset, weekday, zone):
    definition = {
        "period": period,
        "reset_time": reset.replace(microsecond=0),
        "reset_weekday": weekday,
        "timezone": zone,
    }
    first, second = series_windows_from(at, 2, **definition)
    assert first.starts_at <= at < first.ends_at
    assert first.ends_at == second.starts_at
    assert series_window_at(first.ends_at - timedelta(microseconds=1), **definition) == first


def test_epoch_millis_is_exact():
    assert epoch_millis(datetime(2004, 10, 25, 6, 43, 21, 847000, tzinfo=UTC)) == 1098686601847


# -- the range windows may lie in ------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [WINDOW_EARLIEST, WINDOW_LATEST, datetime(2026, 11, 23, tzinfo=UTC)],
)
def test_instants_within_the_range_may_bound_a_window(at):
    validate_window_instant(at)
    assert clamp_window_instant(at) == at


@pytest.mark.parametrize(
    "at",
    [
        datetime.max.replace(tzinfo=UTC),
        datetime(9999, 12, 31, 23, tzinfo=UTC),
        WINDOW_LATEST + timedelta(microseconds=1),
        WINDOW_EARLIEST - timedelta(microseconds=1),
        datetime.min.replace(tzinfo=UTC),
    ],
)
def test_instants_outside_the_range_are_refused_and_clamp_to_its_ends(at):
    with pytest.raises(ValidationError) as refused:
        validate_window_instant(at)

    assert refused.value.messages == [WINDOW_RANGE_MESSAGE]
    assert clamp_window_instant(at) in (WINDOW_EARLIEST, WINDOW_LATEST)


def test_the_latest_end_leaves_room_for_a_week_and_a_month_of_arithmetic():
    assert WINDOW_LATEST + timedelta(weeks=5) < datetime.max.replace(tzinfo=UTC)
