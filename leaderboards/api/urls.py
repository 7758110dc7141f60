"""API routes of boards and standings, mounted under /api/v1/."""

from django.urls import path

from leaderboards.api import (
    boards,
    exports,
    leagues,
    moderation,
    participants,
    players,
    privacy,
    series,
)

urlpatterns = [
    path("leaderboards/", boards.BoardListApi.as_view(), name="api-board-list"),
    path(
        "leaderboards/<slug:slug>/",
        boards.BoardDetailApi.as_view(),
        name="api-board-detail",
    ),
    path(
        "leaderboards/<slug:slug>/entries/",
        boards.BoardEntriesApi.as_view(),
        name="api-board-entries",
    ),
    path(
        "leaderboards/<slug:slug>/entries.csv",
        exports.board_entries_csv,
        name="api-board-entries-csv",
    ),
    # `path`: external ids are free-form strings and may hold a slash. The bucket route
    # comes first: an id ending in "/bucket" is read as that route.
    path(
        "leaderboards/<slug:slug>/players/<path:player_id>/bucket/",
        leagues.PlayerBucketApi.as_view(),
        name="api-board-player-bucket",
    ),
    path(
        "leaderboards/<slug:slug>/buckets/<int:bucket>/entries/",
        leagues.BucketEntriesApi.as_view(),
        name="api-board-bucket-entries",
    ),
    # GET: the player's standing (public); DELETE: remove their score (moderation).
    path(
        "leaderboards/<slug:slug>/players/<path:player_id>/",
        moderation.BoardPlayerApi.as_view(),
        name="api-board-player",
    ),
    path("leaderboards/<slug:slug>/ranks/", boards.BoardRanksApi.as_view(), name="api-board-ranks"),
    path(
        "leaderboards/<slug:slug>/participants/",
        participants.ParticipantListApi.as_view(),
        name="api-board-participants",
    ),
    path(
        "leaderboards/<slug:slug>/participants/<path:player_id>/",
        participants.ParticipantDetailApi.as_view(),
        name="api-board-participant",
    ),
    path("standings/", boards.StandingsApi.as_view(), name="api-standings"),
    # Before the profile's route, whose `path` would swallow "/ban" and "/export".
    path(
        "players/<path:player_id>/ban/",
        moderation.PlayerBanApi.as_view(),
        name="api-player-ban",
    ),
    path(
        "players/<path:player_id>/export/",
        privacy.PlayerExportApi.as_view(),
        name="api-player-export",
    ),
    path("players/<path:player_id>/", players.PlayerProfileApi.as_view(), name="api-player"),
    path("audit-log/", moderation.AuditLogApi.as_view(), name="api-audit-log"),
    path("series/", series.SeriesListApi.as_view(), name="api-series-list"),
    path("series/<slug:slug>/", series.SeriesDetailApi.as_view(), name="api-series-detail"),
    path(
        "series/<slug:slug>/current/",
        series.SeriesCurrentApi.as_view(),
        name="api-series-current",
    ),
    path(
        "series/<slug:slug>/current/entries/",
        series.SeriesCurrentEntriesApi.as_view(),
        name="api-series-current-entries",
    ),
    path(
        "series/<slug:slug>/boards/",
        series.SeriesBoardsApi.as_view(),
        name="api-series-boards",
    ),
]
