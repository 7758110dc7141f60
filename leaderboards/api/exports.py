"""CSV export of a board's standings, streamed (a board may hold millions of players)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404

from config.throttling import rate_limited
from leaderboards.models import Board
from leaderboards.selectors import board_standings_csv


def board_csv_response(board: Board) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        board_standings_csv(board), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{board.slug}.csv"'
    return response


@rate_limited
def board_entries_csv(request, slug: str) -> StreamingHttpResponse:
    """GET /api/v1/leaderboards/{slug}/entries.csv: rank,player_id,display_name,score."""
    return board_csv_response(get_object_or_404(Board, slug=slug))
