"""Celery tasks: thin shells over services. Each is safe to run twice or twice at once."""

from __future__ import annotations

from celery import shared_task

from leaderboards import services
from leaderboards.models import Board


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
    report = services.cache_sync()
    return {
        "warmed": report.warmed,
        "evicted": report.evicted,
        "drifted": report.drifted,
        "checked": report.checked,
    }


@shared_task
def cache_rebuild(board_id: int) -> str:
    return services.cache_build_board(Board.objects.get(pk=board_id), force=True)


@shared_task
def rollups_advance() -> dict:
    from leaderboards.rollups import rollups_advance as advance

    progress = advance()
    return {"watermark": progress.new_watermark.isoformat() if progress.new_watermark else None}
