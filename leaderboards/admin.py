"""Admin for boards. Editing what a board ranks drops its Redis copy, so the next read
rebuilds it from PostgreSQL under the new definition."""

import logging

import redis
from django.contrib import admin
from django.db import transaction

from leaderboards.models import Board, BoardStatus
from leaderboards.services import cache_drop_board

logger = logging.getLogger(__name__)

# Fields that change a board's standings; a name or slug edit keeps the cache.
RANKING_FIELDS = {"metric", "starts_at", "ends_at", "aggregation", "sort_order"}


def _drop_cache_after_commit(board_id: int) -> None:
    # After the commit: a read between the drop and the commit would rebuild the cache
    # from the old definition.
    def drop() -> None:
        try:
            cache_drop_board(board_id)
        except redis.RedisError as exc:
            # With Redis down the cache is rebuilt from PostgreSQL when it returns.
            logger.warning("could not drop the cache of board %s: %s", board_id, exc)

    transaction.on_commit(drop)


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "metric",
        "aggregation",
        "sort_order",
        "starts_at",
        "ends_at",
        "status",
    ]
    search_fields = ["slug", "name", "metric"]
    list_filter = ["metric", "aggregation"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["status", "created_at"]
    date_hierarchy = "starts_at"

    @admin.display(description="status")
    def status(self, board: Board) -> str:
        if board.starts_at is None:  # a board being added
            return "-"
        return BoardStatus(board.status).label

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and RANKING_FIELDS & set(form.changed_data):
            _drop_cache_after_commit(obj.pk)

    def delete_model(self, request, obj):
        board_id = obj.pk
        super().delete_model(request, obj)
        _drop_cache_after_commit(board_id)

    def delete_queryset(self, request, queryset):
        board_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for board_id in board_ids:
            _drop_cache_after_commit(board_id)
