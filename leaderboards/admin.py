"""Admin for operators: series and boards. Saving and deleting a board go through its
services (leaderboards/services.py), which drop the Redis copy when what it ranks changed."""

import calendar

import redis
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin import DbDefaultsAdmin
from leaderboards.api.exports import board_csv_response
from leaderboards.cache.builds import cache_build_board
from leaderboards.models import Board, BoardStatus, BucketMember, Participant, Series
from leaderboards.selectors import board_entries
from leaderboards.services import (
    board_delete,
    board_finalize,
    board_update,
    series_ensure_windows,
)


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return BoardStatus.choices

    def queryset(self, request, queryset):
        if self.value() not in BoardStatus.values:
            return queryset
        return queryset.with_status(self.value(), timezone.now())


class ParticipantInline(admin.TabularInline):
    """Who joined, in join order. Read-only: joins and removals go through the API, whose
    services keep the cache and the `max_participants` limit right."""

    model = Participant
    fields = ["player", "joined_at"]
    readonly_fields = fields
    ordering = ["joined_at", "id"]
    extra = 0
    can_delete = False
    classes = ["collapse"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BucketMemberInline(admin.TabularInline):
    """A league's places, in order, with the bucket each falls in. Read-only: places are
    given once, by the consumer (leaderboards/leagues.py)."""

    model = BucketMember
    fields = ["position", "bucket", "player"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False
    classes = ["collapse"]
    verbose_name_plural = "bucket places"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="bucket")
    def bucket(self, member: BucketMember) -> int:
        return (member.position - 1) // member.board.bucket_size + 1


@admin.register(Board)
class BoardAdmin(DbDefaultsAdmin):
    list_display = [
        "slug",
        "name",
        "metric",
        "aggregation",
        "sort_order",
        "tie_break",
        "join_required",
        "starts_at",
        "ends_at",
        "status",
        "series",
    ]
    search_fields = ["slug", "name", "metric", "series__slug"]
    list_filter = [StatusFilter, "series__period", "metric", "aggregation"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["status", "finalized_at", "late_events", "top_10", "created_at"]
    date_hierarchy = "starts_at"
    list_select_related = ["series"]
    actions = ["rebuild_cache", "finalize_now", "export_csv"]
    inlines = [ParticipantInline, BucketMemberInline]

    @admin.display(description="status")
    def status(self, board: Board) -> str:
        if board.starts_at is None:  # a board being added
            return "-"
        return BoardStatus(board.status).label

    @admin.display(description="top 10")
    def top_10(self, board: Board) -> str:
        if board.pk is None:
            return "-"
        count, entries = board_entries(board, offset=0, limit=10)
        if not entries:
            return "No scores yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.rank, e.display_name, e.score) for e in entries),
        )
        return format_html(
            "<table><thead><tr><th>rank</th><th>player</th><th>score</th></tr></thead>"
            "<tbody>{}</tbody></table><p>{} players ranked.</p>",
            rows,
            count,
        )

    @admin.action(description="Rebuild the Redis cache of the selected boards")
    def rebuild_cache(self, request, queryset):
        try:
            outcomes = {board.slug: cache_build_board(board, force=True) for board in queryset}
        except redis.RedisError as exc:
            self.message_user(request, f"Redis is unavailable: {exc}", messages.ERROR)
            return
        summary = ", ".join(f"{slug}: {outcome}" for slug, outcome in outcomes.items())
        self.message_user(request, f"Cache rebuilt ({summary}).", messages.SUCCESS)

    @admin.action(description="Finalise the selected boards now")
    def finalize_now(self, request, queryset):
        done = [board.slug for board in queryset if board_finalize(board.pk)]
        skipped = queryset.count() - len(done)
        self.message_user(
            request,
            f"Finalised {len(done)} board(s)" + (f"; {skipped} already final." if skipped else "."),
            messages.SUCCESS,
        )

    @admin.action(description="Export the standings as CSV (one board)")
    def export_csv(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Pick exactly one board to export.", messages.WARNING)
            return None
        return board_csv_response(queryset.get())

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # The form has set the new values on `obj`; the service compares them with the
        # stored board to know whether its cached copy must go.
        stored = Board.objects.get(pk=obj.pk)
        board_update(board=stored, data={field: getattr(obj, field) for field in form.changed_data})

    def delete_model(self, request, obj):
        board_delete(board=obj)

    def delete_queryset(self, request, queryset):
        for board in queryset:
            board_delete(board=board)


@admin.register(Series)
class SeriesAdmin(DbDefaultsAdmin):
    list_display = [
        "slug",
        "name",
        "period",
        "reset",
        "timezone",
        "metric",
        "aggregation",
        "tie_break",
        "current_board",
    ]
    list_filter = ["period", "metric", "aggregation"]
    search_fields = ["slug", "name", "metric"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]

    @admin.display(description="reset")
    def reset(self, series: Series) -> str:
        day = ""
        if series.reset_weekday is not None:
            day = calendar.day_abbr[series.reset_weekday] + " "
        return f"{day}{series.reset_time:%H:%M}"

    @admin.display(description="current window")
    def current_board(self, series: Series) -> str:
        now = timezone.now()
        board = series.boards.live(now).first()
        if board is None:
            return "-"
        url = reverse("admin:leaderboards_board_change", args=[board.pk])
        return format_html('<a href="{}">{}</a>', url, board.slug)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Like the API: a new series counts events at once.
        transaction.on_commit(lambda: series_ensure_windows(obj))
