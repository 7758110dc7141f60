"""Public pages: the boards (live, upcoming, final results) and one board's standings, with
the HTML fragments the board page polls (static/js/live.js) to update itself without a
reload when it cannot follow the board's stream (the stream server, STREAM_PUBLIC_URL).
Times are shown in the board's series' time zone (UTC for a board of no series).

Every query parameter is optional and forgiving: a page link someone mangled shows the
first page rather than an error.
"""

from __future__ import annotations

import contextlib

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe

from config.pagination import MAX_OFFSET
from config.security import content_security_policy
from config.throttling import rate_limited
from leaderboards.cache.catalog import catalog
from leaderboards.leagues import bucket_count, bucket_of
from leaderboards.models import Board
from leaderboards.selectors import (
    board_around,
    board_bucket_entries,
    board_entries,
    boards_finalized_recently,
    boards_live,
    boards_upcoming,
)
from leaderboards.streams.views import MAX_LIMIT as STREAM_MAX_LIMIT
from players.models import PLAYER_ID_MAX_LENGTH

PAGE_SIZE = 25
NEIGHBOURS = 5
STREAMS_URLCONF = "config.urls_streams"


class FindPlayerForm(forms.Form):
    player = forms.CharField(label="Player id", max_length=PLAYER_ID_MAX_LENGTH)


def _offset(request) -> int:
    try:
        return min(max(0, int(request.GET.get("offset", 0))), MAX_OFFSET)
    except ValueError:
        return 0


def _bucket(request, board: Board) -> int | None:
    """The bucket asked for on a league board (?bucket=N, from 1), else None."""
    if board.bucket_size is None:
        return None
    try:
        bucket = int(request.GET.get("bucket", ""))
    except ValueError:
        return None
    return bucket if 1 <= bucket <= MAX_OFFSET else None


def _entries_context(request, board: Board) -> dict:
    offset = _offset(request)
    bucket = _bucket(request, board)
    if bucket is None:
        count, entries = board_entries(board, offset=offset, limit=PAGE_SIZE)
    else:
        count, entries = board_bucket_entries(board, bucket, offset=offset, limit=PAGE_SIZE)
    buckets = bucket_count(board) if board.bucket_size else 0
    return {
        "bucket": bucket,
        "previous_bucket": bucket - 1 if bucket and bucket > 1 else None,
        "next_bucket": (bucket or 0) + 1 if (bucket or 0) < buckets else None,
        "board": board,
        "entries": entries,
        "count": count,
        "offset": offset,
        "first_shown": offset + 1,
        "last_shown": offset + len(entries),
        "previous_offset": max(0, offset - PAGE_SIZE) if offset > 0 else None,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < count else None,
        "player_id": request.GET.get("player", "").strip(),
    }


def _stream_url(name: str, **kwargs: str) -> str:
    """A stream's URL on the stream server: STREAM_PUBLIC_URL's, or this origin's."""
    path = reverse(name, urlconf=STREAMS_URLCONF, kwargs=kwargs)
    return f"{settings.STREAM_PUBLIC_URL}{path}"


def _streams_context(board: Board, context: dict) -> dict:
    """The streams the board page follows instead of polling: the top of the board down to
    the page shown (when that is within a stream's top 100 and not a league's bucket), and
    the player found. A final board streams nothing (nothing changes)."""
    if board.finalized_at is not None:
        return {}
    streams = {}
    shown_to = context["offset"] + PAGE_SIZE
    if board.bucket_size is None and shown_to <= STREAM_MAX_LIMIT:
        url = _stream_url("board-stream", slug=board.slug)
        streams["entries_stream_url"] = f"{url}?limit={shown_to}"
    if context.get("searched_id"):
        # An id no route takes (one with a slash): that region polls.
        with contextlib.suppress(NoReverseMatch):
            streams["player_stream_url"] = _stream_url(
                "player-stream", slug=board.slug, player_id=context["searched_id"]
            )
    return streams


def _player_context(request, board: Board) -> dict:
    """The find-a-player form and, once a player id was asked for, their neighbourhood."""
    if "player" not in request.GET:
        return {"board": board, "form": FindPlayerForm(), "searched_id": None}
    form = FindPlayerForm(request.GET)
    if not form.is_valid():
        return {"board": board, "form": form, "searched_id": None}
    player_id = form.cleaned_data["player"]
    around = board_around(board, player_id=player_id, n=NEIGHBOURS)
    me = next((entry for entry in around if entry.player_id == player_id), None)
    bucket = bucket_of(board, player_id) if board.bucket_size and me else None
    return {
        "board": board,
        "form": form,
        "searched_id": player_id,
        "around": around,
        "me": me,
        "me_bucket": bucket,
    }


@require_safe
@content_security_policy
@rate_limited
def board_list(request):
    context = {
        "boards": boards_live(),
        "upcoming": boards_upcoming(),
        "finals": boards_finalized_recently(),
    }
    return render(request, "leaderboards/board_list.html", context)


@require_safe
@content_security_policy
@rate_limited
def board_detail(request, slug: str):
    board = catalog.board(slug)
    context = _entries_context(request, board) | _player_context(request, board)
    context |= _streams_context(board, context)
    return render(request, "leaderboards/board_detail.html", context)


@require_safe
@content_security_policy
@rate_limited
def board_entries_fragment(request, slug: str):
    board = catalog.board(slug)
    return render(request, "leaderboards/_entries.html", _entries_context(request, board))


@require_safe
@content_security_policy
@rate_limited
def board_player_fragment(request, slug: str):
    board = catalog.board(slug)
    return render(request, "leaderboards/_player.html", _player_context(request, board))
