"""Admin for operators: series and boards. Saving, deleting and finalising a board go
through its services (leaderboards/services.py), which drop the Redis copy when what it
ranks changed. The forms are leaderboards/admin_forms.py's; a board's change page also
links to its public page, entries and CSV, finds a player on it, and finalises it (asking
first while its window is open). Moderation (ban, unban, remove a score, reopen) is
leaderboards/admin_moderation.py's, on the board's page and on the player's, whose admin
is registered here in place of the players app's."""

import calendar

import redis
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin import DbDefaultsAdmin
from leaderboards.admin_forms import BoardAdminForm, SeriesAdminForm
from leaderboards.admin_moderation import BoardModerationAdmin, ModeratedPlayerAdmin
from leaderboards.api.exports import board_csv_response
from leaderboards.cache.builds import cache_build_board
from leaderboards.models import Board, BoardStatus, BucketMember, Participant, Series
from leaderboards.selectors import board_entries, board_ranks
from leaderboards.services import (
    board_delete,
    board_finalize,
    board_update,
    series_ensure_windows,
)
from players.models import PLAYER_ID_MAX_LENGTH, Player

FINALIZE_CONFIRMATION = "admin/leaderboards/board/finalize_confirmation.html"


def window_open(board: Board, now) -> bool:
    """Whether events may still fall in the board's window (it has not ended)."""
    return board.ends_at is None or board.ends_at > now


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
class BoardAdmin(BoardModerationAdmin, DbDefaultsAdmin):
    form = BoardAdminForm
    change_form_template = "admin/leaderboards/board/change_form.html"
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
    readonly_fields = [
        "window_utc",
        "status",
        "finalized_at",
        "reopened_at",
        "late_events",
        "top_10",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "slug", "metric"]}),
        ("Window", {"fields": ["window_timezone", "starts_at", "ends_at", "window_utc"]}),
        ("Ranking", {"fields": ["aggregation", "sort_order", "tie_break", "series"]}),
        (
            "Tournament and league",
            {"fields": ["join_required", "max_participants", "max_attempts", "bucket_size"]},
        ),
        (
            "State",
            {
                "fields": [
                    "status",
                    "finalized_at",
                    "reopened_at",
                    "late_events",
                    "top_10",
                    "created_at",
                ]
            },
        ),
    ]
    date_hierarchy = "starts_at"
    list_select_related = ["series"]
    actions = ["rebuild_cache", "finalize_now", "export_csv"]
    inlines = [ParticipantInline, BucketMemberInline]

    @admin.display(description="status")
    def status(self, board: Board) -> str:
        if board.starts_at is None:  # a board being added
            return "-"
        return BoardStatus(board.status).label

    @admin.display(description="window in UTC")
    def window_utc(self, board: Board) -> str:
        if board.starts_at is None:  # a board being added
            return "-"
        end = f"{board.ends_at:%Y-%m-%d %H:%M:%S}" if board.ends_at else "open-ended"
        return f"{board.starts_at:%Y-%m-%d %H:%M:%S} to {end} UTC"

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
        """Freeze the boards' standings. A board whose window is still open is frozen early
        (later events will not count): that needs a confirmation page first, as a delete
        does."""
        boards = list(queryset)
        now = timezone.now()
        still_open = [b for b in boards if b.finalized_at is None and window_open(b, now)]
        if still_open and request.POST.get("confirm") != "yes":
            return self._finalize_confirmation(request, boards, still_open, changelist=True)
        self._finalize(request, boards)
        return None

    def _finalize(self, request: HttpRequest, boards: list[Board]) -> None:
        done = [board.slug for board in boards if board_finalize(board.pk)]
        skipped = len(boards) - len(done)
        self.message_user(
            request,
            f"Finalised {len(done)} board(s)" + (f"; {skipped} already final." if skipped else "."),
            messages.SUCCESS,
        )

    def _finalize_confirmation(
        self,
        request: HttpRequest,
        boards: list[Board],
        still_open: list[Board],
        *,
        changelist: bool,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Finalise now?",
            "opts": self.model._meta,
            "boards": boards,
            "still_open": still_open,
            "changelist": changelist,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, FINALIZE_CONFIRMATION, context)

    def finalize_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """The change page's "Finalise now": a confirmation page, then the finalisation."""
        board = self.get_object(request, unquote(object_id))
        if board is None:
            raise Http404(f"No board with id {object_id!r}.")
        if not self.has_change_permission(request, board):
            raise PermissionDenied
        change_url = reverse("admin:leaderboards_board_change", args=[board.pk])
        if board.finalized_at is not None:
            self.message_user(request, f"{board.slug} is already final.", messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._finalize(request, [board])
            return HttpResponseRedirect(change_url)
        still_open = [board] if window_open(board, timezone.now()) else []
        return self._finalize_confirmation(request, [board], still_open, changelist=False)

    def get_urls(self):
        finalize = self.admin_site.admin_view(self.finalize_view)
        return [
            path("<path:object_id>/finalize/", finalize, name="leaderboards_board_finalize"),
            *self.moderation_urls(),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        board = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if board is not None:
            extra.update(board_player_lookup(board, request.GET.get("find_player")))
            extra["may_moderate"] = request.user.has_perm("players.change_player")
        return super().change_view(request, object_id, form_url, extra)

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
        # stored board to know whether its cached copy must go. Every field the form holds
        # is handed over, not only form.changed_data: a window typed in another zone may
        # show the same wall-clock time and still be another instant.
        stored = Board.objects.get(pk=obj.pk)
        fields = [f.name for f in Board._meta.concrete_fields if f.name in form.cleaned_data]
        board_update(board=stored, data={field: getattr(obj, field) for field in fields})

    def delete_model(self, request, obj):
        board_delete(board=obj)

    def delete_queryset(self, request, queryset):
        for board in queryset:
            board_delete(board=board)


def board_player_lookup(board: Board, player_id: str | None) -> dict:
    """The change page's "find a player": their rank and score on the board (live or
    final, read like any board read), or why there is none."""
    if player_id is None:
        return {"find_player": None}
    player_id = player_id.strip()
    context: dict = {"find_player": player_id, "found": None, "find_error": None}
    if not player_id or len(player_id) > PLAYER_ID_MAX_LENGTH:
        context["find_error"] = f"A player id has 1 to {PLAYER_ID_MAX_LENGTH} characters."
        return context
    entries = board_ranks(board, player_ids=[player_id])
    context["found"] = entries[0] if entries else None
    player = Player.objects.filter(external_id=player_id).only("pk", "banned_at").first()
    if player is not None:
        context["player_url"] = reverse("admin:players_player_change", args=[player.pk])
        # A banned player has no rank to show, but can be unbanned (or their score removed).
        context["player_banned"] = player.banned_at is not None
    return context


# The player's page with its moderation: the players app may not import leaderboards.
admin.site.unregister(Player)
admin.site.register(Player, ModeratedPlayerAdmin)


@admin.register(Series)
class SeriesAdmin(DbDefaultsAdmin):
    form = SeriesAdminForm
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
    fieldsets = [
        (None, {"fields": ["name", "slug", "metric"]}),
        ("Window", {"fields": ["period", "timezone", "reset_time", "reset_weekday"]}),
        ("Ranking", {"fields": ["aggregation", "sort_order", "tie_break"]}),
        (
            "Tournament and league",
            {"fields": ["join_required", "max_participants", "max_attempts", "bucket_size"]},
        ),
        (None, {"fields": ["created_at"]}),
    ]

    @admin.display(description="reset")
    def reset(self, series: Series) -> str:
        day = ""
        if series.reset_weekday is not None:
            day = calendar.day_abbr[series.reset_weekday] + " "
        return f"{day}{series.reset_time:%H:%M} {series.timezone}"

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
