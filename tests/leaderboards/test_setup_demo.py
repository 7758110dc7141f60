"""`manage.py setup_demo`: demo boards, admin user and API key, safe to run on every start."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from access.models import ApiKey
from leaderboards.management.commands.setup_demo import demo_windows
from leaderboards.models import Board
from leaderboards.services import board_create

pytestmark = pytest.mark.django_db

DEMO_SLUGS = {"today", "this-week", "this-month", "all-time"}


def run_setup_demo() -> str:
    out = io.StringIO()
    call_command("setup_demo", stdout=out)
    return out.getvalue()


def printed_key(output: str) -> str:
    match = re.search(r"API key 'demo' .*: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_running_twice_creates_each_board_once(redis_client):
    run_setup_demo()
    second = run_setup_demo()

    boards = Board.objects.filter(slug__in=DEMO_SLUGS)
    assert sorted(board.slug for board in boards) == sorted(DEMO_SLUGS)
    assert "(kept)" in second
    for board in boards:
        assert (board.metric, board.aggregation, board.sort_order) == ("score", "sum", "desc")
        assert board.status == "live"


def test_prints_a_working_api_key_and_keeps_only_the_latest(redis_client):
    first = printed_key(run_setup_demo())
    second = printed_key(run_setup_demo())

    assert ApiKey.objects.filter(name="demo").count() == 1
    assert ApiKey.objects.is_valid(second)
    assert not ApiKey.objects.is_valid(first)


def test_creates_the_admin_once_and_then_explains_how_to_reset(redis_client):
    first = run_setup_demo()
    second = run_setup_demo()

    password = re.search(r"username admin, password (\S+)", first).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(password)
    assert "already exists" in second
    assert "manage.py changepassword admin" in second
    assert 'make manage ARGS="changepassword admin"' in second


def test_prints_the_urls_on_the_port_from_the_environment(redis_client, monkeypatch):
    monkeypatch.setenv("PORT", "8123")

    output = run_setup_demo()

    assert "http://127.0.0.1:8123/admin/" in output
    assert "http://127.0.0.1:8123/api/v1/leaderboards/today/entries/" in output


def test_a_demo_board_whose_window_ended_moves_to_the_current_one(
    redis_client, django_capture_on_commit_callbacks
):
    last_week = datetime.now(UTC) - timedelta(days=7)
    board_create(
        slug="today", name="Today", starts_at=last_week, ends_at=last_week + timedelta(days=1)
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        output = run_setup_demo()

    # The stale cached ranking is dropped after the commit (beside the catalog's refresh).
    ran = [getattr(callback, "__qualname__", "") for callback in callbacks]
    assert ran.count("cache_drop_board_on_commit.<locals>.drop") == 1
    today = demo_windows(datetime.now(UTC))[0]
    board = Board.objects.get(slug="today")
    assert (board.starts_at, board.ends_at) == (today.starts_at, today.ends_at)
    assert "moved to the current window" in output


def test_demo_windows_are_utc_calendar_windows():
    now = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # a Thursday

    windows = {window.slug: window for window in demo_windows(now)}

    assert windows["today"].starts_at == datetime(2026, 11, 26, tzinfo=UTC)
    assert windows["today"].ends_at == datetime(2026, 11, 27, tzinfo=UTC)
    assert windows["this-week"].starts_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert windows["this-week"].ends_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert windows["this-month"].starts_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert windows["this-month"].ends_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert windows["all-time"].starts_at == datetime(2000, 1, 1, tzinfo=UTC)
    assert windows["all-time"].ends_at is None


def test_december_rolls_over_into_january():
    windows = {w.slug: w for w in demo_windows(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))}

    assert windows["this-month"].ends_at == datetime(2027, 1, 1, tzinfo=UTC)
