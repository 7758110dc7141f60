"""API routes of boards and standings, mounted under /api/v1/."""

from django.urls import path

from leaderboards import apis, exports, league_apis, participant_apis, player_apis, series_apis

urlpatterns = [
    path("leaderboards/", apis.BoardListApi.as_view(), name="api-board-list"),
    path(
        "leaderboards/<slug:slug>/",
        apis.BoardDetailApi.as_view(),
        name="api-board-detail",
    ),
    path(
        "leaderboards/<slug:slug>/entries/",
        apis.BoardEntriesApi.as_view(),
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
        league_apis.PlayerBucketApi.as_view(),
        name="api-board-player-bucket",
    ),
    path(
        "leaderboards/<slug:slug>/buckets/<int:bucket>/entries/",
        league_apis.BucketEntriesApi.as_view(),
        name="api-board-bucket-entries",
    ),
    path(
        "leaderboards/<slug:slug>/players/<path:player_id>/",
        apis.BoardPlayerApi.as_view(),
        name="api-board-player",
    ),
    path("leaderboards/<slug:slug>/ranks/", apis.BoardRanksApi.as_view(), name="api-board-ranks"),
    path(
        "leaderboards/<slug:slug>/participants/",
        participant_apis.ParticipantListApi.as_view(),
        name="api-board-participants",
    ),
    path(
        "leaderboards/<slug:slug>/participants/<path:player_id>/",
        participant_apis.ParticipantDetailApi.as_view(),
        name="api-board-participant",
    ),
    path("standings/", apis.StandingsApi.as_view(), name="api-standings"),
    path("players/<path:player_id>/", player_apis.PlayerProfileApi.as_view(), name="api-player"),
    path("series/", series_apis.SeriesListApi.as_view(), name="api-series-list"),
    path("series/<slug:slug>/", series_apis.SeriesDetailApi.as_view(), name="api-series-detail"),
    path(
        "series/<slug:slug>/current/",
        series_apis.SeriesCurrentApi.as_view(),
        name="api-series-current",
    ),
    path(
        "series/<slug:slug>/current/entries/",
        series_apis.SeriesCurrentEntriesApi.as_view(),
        name="api-series-current-entries",
    ),
    path(
        "series/<slug:slug>/boards/",
        series_apis.SeriesBoardsApi.as_view(),
        name="api-series-boards",
    ),
]
