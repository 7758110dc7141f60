"""The stream routes, served only by the stream server (config/urls_streams.py)."""

from django.urls import path

from leaderboards.streams import views

urlpatterns = [
    path("leaderboards/<slug:slug>/stream/", views.board_stream, name="board-stream"),
    path(
        "leaderboards/<slug:slug>/players/<str:player_id>/stream/",
        views.player_stream,
        name="player-stream",
    ),
]
