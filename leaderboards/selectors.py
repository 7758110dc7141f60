"""Reads of boards: from Redis when the board is cached, from PostgreSQL otherwise, from
the frozen rows once it is final; with players' display names.

A read of a cached board asks Redis once (one script answers the ranks and the names) and
PostgreSQL never: views get the board from leaderboards/cache/catalog.py. A board missing from
Redis is answered from PostgreSQL while it is built in the background, and when Redis is
down reads go to PostgreSQL (leaderboards/cache/read_through.py's cached_read).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from leaderboards.cache.catalog import catalog
from leaderboards.cache.read_through import cached_read
from leaderboards.cache.store import get_store
from leaderboards.leagues import bucket_members, bucket_ranked
from leaderboards.models import Board, Series
from leaderboards.postgres.final import final_around, final_for_players, final_page, final_stream
from leaderboards.postgres.standings import (
    standings_around,
    standings_for_players,
    standings_page,
    standings_ranked_stream,
)
from leaderboards.ranking import Page, Standing, Window
from players.selectors import player_display_names

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    player_id: str
    display_name: str
    score: int


def boards_live(*, now: datetime | None = None) -> list[Board]:
    """Boards whose window is open now, the ones ending soonest first (open-ended last)."""
    now = now or timezone.now()
    boards = Board.objects.live(now).select_related("series")
    return list(boards.order_by(F("ends_at").asc(nulls_last=True), "slug"))


def boards_upcoming(*, now: datetime | None = None, limit: int = 20) -> list[Board]:
    """Boards whose window has not started yet, the soonest first."""
    now = now or timezone.now()
    boards = Board.objects.upcoming(now).select_related("series")
    return list(boards.order_by("starts_at", "slug")[:limit])


def boards_finalized_recently(*, limit: int = 10) -> list[Board]:
    """The boards finalised last, newest first: their final results."""
    boards = Board.objects.finalized().select_related("series")
    return list(boards.order_by("-finalized_at", "slug")[:limit])


def series_board_now(series: Series, *, now: datetime | None = None) -> Board | None:
    """The board of the series' window running now, from the catalog (no query); None
    when it does not exist yet (services.series_current_board creates it)."""
    (window,) = series.windows_from(now or timezone.now(), 1)
    try:
        board = catalog.board(window.slug(series.slug, series.period))
    except Http404:
        return None
    return board if board.series_id == series.pk else None


def _with_names(standings: Sequence[Standing], names: dict[str, str] | None = None) -> list[Entry]:
    """Entries of the standings, named from `names` (what Redis answered with) or, when
    the source holds none, from PostgreSQL."""
    if names is None:
        names = player_display_names(external_ids=[s.player_id for s in standings])
    return [
        Entry(s.rank, s.player_id, names.get(s.player_id) or s.player_id, s.score)
        for s in standings
    ]


def board_entries(board: Board, *, offset: int, limit: int) -> tuple[int, list[Entry]]:
    """One page of the board: (number of ranked players, entries)."""
    if board.finalized_at is not None:
        page = final_page(board.pk, offset=offset, limit=limit)
    else:
        page = cached_read(board, lambda store: store.top(board, offset, limit))
        if page is None:
            page = standings_page(Window.of_board(board), offset=offset, limit=limit)
    return page.count, _with_names(page.standings, page.names)


def board_around(board: Board, *, player_id: str, n: int) -> list[Entry]:
    """The player and up to n neighbours each side, or [] when the player has no score."""
    if board.finalized_at is not None:
        page: Page | None = final_around(board.pk, player_id, n)
    else:
        page = cached_read(board, lambda store: store.around(board, player_id, n))
        if page is None:
            page = standings_around(Window.of_board(board), player_id, n)
    return _with_names(page.standings, page.names)


def board_ranks(board: Board, *, player_ids: Sequence[str]) -> list[Entry]:
    """Standings of the given players that have a score, best first."""
    if board.finalized_at is None:
        page = cached_read(board, lambda store: store.ranks(board, player_ids))
        if page is not None:
            return _with_names(page.standings, page.names)
        found = standings_for_players(Window.of_board(board), player_ids)
    else:
        found = final_for_players(board.pk, player_ids)
    ordered = sorted(found.values(), key=lambda s: (s.rank, s.player_id.encode()))
    return _with_names(ordered)


def board_bucket_entries(
    board: Board, bucket: int, *, offset: int, limit: int
) -> tuple[int, list[Entry]]:
    """One page of a league board's bucket, ranked among its players: (players ranked,
    entries). Scores are the board's (Redis, PostgreSQL or final standings)."""
    ranked = board_ranks(board, player_ids=bucket_members(board, bucket))
    standings = bucket_ranked(board, [Standing(e.rank, e.player_id, e.score) for e in ranked])
    names = {entry.player_id: entry.display_name for entry in ranked}
    entries = [Entry(s.rank, s.player_id, names[s.player_id], s.score) for s in standings]
    return len(entries), entries[offset : offset + limit]


def board_standings_csv(board: Board) -> Iterator[str]:
    """The board as CSV lines (header `rank,player_id,display_name,score`), streamed in
    chunks so a board of millions of players never sits in memory; text cells that a
    spreadsheet would run as a formula are neutralised (csv_text)."""
    yield "rank,player_id,display_name,score\r\n"
    with transaction.atomic():  # the live ranking streams through a server-side cursor
        if board.finalized_at is not None:
            standings: Iterator[Standing] = final_stream(board.pk)
        else:
            standings = standings_ranked_stream(Window.of_board(board))
        chunk: list[Standing] = []
        for standing in standings:
            chunk.append(standing)
            if len(chunk) == CSV_CHUNK:
                yield _csv_lines(chunk)
                chunk = []
        if chunk:
            yield _csv_lines(chunk)


CSV_CHUNK = 5_000


def _csv_lines(standings: list[Standing]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for entry in _with_names(standings):
        writer.writerow(
            [entry.rank, csv_text(entry.player_id), csv_text(entry.display_name), entry.score]
        )
    return buffer.getvalue()


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV
# Injection"): a display name "=HYPERLINK(...)" would become a live link.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell (player id, display name) a spreadsheet shows as text: one that could
    start a formula gets a leading single quote. Only text cells: ranks and scores are
    written as numbers, so a score of -5 stays -5."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def window_entries(window: Window, *, offset: int, limit: int) -> tuple[int, list[Entry]]:
    """Ad-hoc standings over any time range, from the delta log."""
    page = standings_page(window, offset=offset, limit=limit)
    return page.count, _with_names(page.standings)


@dataclass(frozen=True, slots=True)
class BoardStanding:
    """A player's place on one board, for their profile."""

    board: str  # the board's slug
    rank: int
    score: int


def player_standings(player_id: str, *, now: datetime | None = None) -> list[BoardStanding]:
    """The player's rank and score on every live board where they have a score, each read
    like any board read (from Redis when the board is cached)."""
    standings = []
    for board in boards_live(now=now):
        for entry in board_ranks(board, player_ids=[player_id]):
            standings.append(BoardStanding(board.slug, entry.rank, entry.score))
    return standings


CACHE_STATUS_BOARDS = 100


@dataclass(frozen=True, slots=True)
class BoardCache:
    board: Board
    cached: bool | None  # in Redis' set of cached boards; None: Redis did not say
    state: str | None  # ready, building, or None: not in Redis
    members: int | None  # players in the sorted set, when it is ready


@dataclass(frozen=True, slots=True)
class CacheReport:
    boards: list[BoardCache]
    redis_error: str | None  # why Redis could not be asked


def board_cache_status(*, limit: int = CACHE_STATUS_BOARDS) -> CacheReport:
    """For the live boards and any other cached one: are they in Redis, in what state,
    with how many players. A Redis that does not answer is reported, not raised."""
    live = Board.objects.live(timezone.now())
    order = [F("ends_at").asc(nulls_last=True), "slug"]
    try:
        store = get_store()
        cached_ids = store.cached_board_ids()
        status = []
        boards = live | Board.objects.filter(pk__in=cached_ids)
        for board in boards.order_by(*order)[:limit]:
            state = store.state(board)
            members = store.size(board) if state == "ready" else None
            status.append(BoardCache(board, board.pk in cached_ids, state, members))
    except redis.RedisError as exc:
        logger.warning("dashboard: redis unavailable: %s", exc)
        return CacheReport(
            boards=[BoardCache(board, None, None, None) for board in live.order_by(*order)[:limit]],
            redis_error=f"Redis unavailable: {exc}",
        )
    return CacheReport(boards=status, redis_error=None)
