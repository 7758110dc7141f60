"""Public pages (HTML); the JSON API lives in leaderboards/api/urls.py."""

from django.urls import path

from leaderboards.pages import views

urlpatterns = [
    path("", views.board_list, name="board-list"),
    path("boards/<slug:slug>/", views.board_detail, name="board-detail"),
    # Fragments the board page polls to update itself without a reload.
    path(
        "boards/<slug:slug>/entries-fragment/",
        views.board_entries_fragment,
        name="board-entries-fragment",
    ),
    path(
        "boards/<slug:slug>/player-fragment/",
        views.board_player_fragment,
        name="board-player-fragment",
    ),
]
