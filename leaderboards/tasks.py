"""Celery tasks: thin shells over services. Each is safe to run twice or twice at once."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from leaderboards import services
from leaderboards.cache import sync
from leaderboards.postgres import partitions, rollups


@shared_task
def series_rollover() -> list[str]:
    return [board.slug for board in services.series_rollover()]


@shared_task
def boards_finalize() -> list[int]:
    return services.boards_finalize_due()


@shared_task
def board_finalize(board_id: int) -> bool:
    return services.board_finalize(board_id)


@shared_task
def cache_sync() -> dict:
    report = sync.cache_sync()
    return {
        "warmed": report.warmed,
        "evicted": report.evicted,
        "drifted": report.drifted,
        "checked": report.checked,
    }


@shared_task
def rollups_advance() -> dict:
    progress = rollups.rollups_advance()
    return {
        "watermark": progress.watermark.isoformat() if progress.watermark else None,
        "hourly_rows": progress.hourly_rows,
        "daily_rows": progress.daily_rows,
        "weekly_rows": progress.weekly_rows,
    }


@shared_task
def delta_partitions() -> dict:
    report = partitions.partitions_maintain(now=timezone.now())
    return {
        "created": report.created,
        "dropped": [part.name for part in report.dropped],
        "kept": {part.name: part.reason for part in report.kept},
        "default_rows_deleted": report.default_rows_deleted,
    }
