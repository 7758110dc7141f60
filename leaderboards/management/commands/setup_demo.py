"""`manage.py setup_demo`: demo boards, an admin user and an API key for `make run`.

Safe to run on every start (it assumes a migrated database):

- boards `today`, `this-week`, `this-month` (UTC calendar windows) and `all-time`, all on
  metric `score`, summed, highest first; a demo board whose window has ended since the
  last run moves on to the current one;
- a superuser `admin` with a random password, only when there is none yet;
- a fresh API key named `demo` (earlier `demo` keys are deleted: only hashes are stored,
  so an old key could not be shown again anyway).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from access.models import ApiKey, Scope
from leaderboards.models import Aggregation, Board, SortOrder
from leaderboards.services import board_create, board_update

ADMIN_USERNAME = "admin"
API_KEY_NAME = "demo"
ALL_TIME_START = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DemoWindow:
    slug: str
    name: str
    starts_at: datetime
    ends_at: datetime | None


def demo_windows(now: datetime) -> list[DemoWindow]:
    """The current UTC windows of the demo boards."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return [
        DemoWindow("today", "Today", today, today + timedelta(days=1)),
        DemoWindow("this-week", "This week", monday, monday + timedelta(days=7)),
        DemoWindow("this-month", "This month", month, next_month),
        DemoWindow("all-time", "All time", ALL_TIME_START, None),
    ]


def demo_board_ensure(window: DemoWindow, *, now: datetime) -> tuple[Board, str]:
    """Create the board, or move it to the current window once its own has ended. Returns
    the board and what happened: created, moved or kept."""
    board = Board.objects.filter(slug=window.slug).first()
    if board is None:
        board = board_create(
            slug=window.slug,
            name=window.name,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            metric="score",
            aggregation=Aggregation.SUM,
            sort_order=SortOrder.DESC,
        )
        return board, "created"
    if board.ends_at is not None and board.ends_at <= now and window.ends_at is not None:
        # The cached ranking belongs to the old window; board_update drops it.
        board_update(board=board, data={"starts_at": window.starts_at, "ends_at": window.ends_at})
        return board, "moved to the current window"
    return board, "kept"


class Command(BaseCommand):
    help = "Create the demo boards, an admin user and a demo API key; print where to look."

    def handle(self, *args, **options):
        now = timezone.now()
        with transaction.atomic():
            boards = [demo_board_ensure(window, now=now) for window in demo_windows(now)]
            password = self._ensure_admin()
            ApiKey.objects.filter(name=API_KEY_NAME).delete()
            _, key = ApiKey.objects.create_key(name=API_KEY_NAME, scopes=Scope.values)

        self.stdout.write("Demo boards (metric score, sum, highest first):")
        for board, outcome in boards:
            end = f"{board.ends_at:%Y-%m-%d %H:%M}" if board.ends_at else "open"
            self.stdout.write(
                f"  {board.slug:<11} {board.starts_at:%Y-%m-%d %H:%M} .. {end} UTC  ({outcome})"
            )
        if password:
            self.stdout.write(f"Admin user created: username {ADMIN_USERNAME}, password {password}")
        else:
            self.stdout.write(
                f"Admin user {ADMIN_USERNAME!r} already exists; to set a new password run "
                f"`manage.py changepassword {ADMIN_USERNAME}` (in a checkout: "
                f'`make manage ARGS="changepassword {ADMIN_USERNAME}"`)'
            )
        self.stdout.write(
            f"API key {API_KEY_NAME!r} (send as 'Authorization: Api-Key <key>'): {key}"
        )
        base = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
        self.stdout.write("URLs:")
        self.stdout.write(f"  web    {base}/")
        self.stdout.write(f"  admin  {base}/admin/")
        self.stdout.write(f"  API    {base}/api/v1/leaderboards/")
        self.stdout.write(f"         {base}/api/v1/leaderboards/today/entries/")
        self.stdout.flush()

    def _ensure_admin(self) -> str | None:
        """Create the admin user if missing; returns its new password, or None."""
        users = get_user_model()
        if users.objects.filter(username=ADMIN_USERNAME).exists():
            return None
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(
            username=ADMIN_USERNAME, email="admin@example.com", password=password
        )
        return password
