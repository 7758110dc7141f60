"""The reads the benchmark measures, each a URL (and a body for POST) on the bench board, a
check that each answers 200 before it is loaded, and the one cold read."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from devtools.bench_reads.data import (
    BOARD_SLUG,
    METRIC,
    SERIES_SLUG,
    player_id,
    store_client,
)
from devtools.bench_reads.errors import BenchFailed
from leaderboards.cache.builds import cache_drop_board
from leaderboards.cache.store import BoardKeys
from leaderboards.models import Board

RANKS_PLAYERS = 100
HEALTHZ = "healthz"


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    body: dict | None = None  # a JSON body: POST
    # Each request from an address of its own (X-Forwarded-For through one trusted hop):
    # the rate limiter's worst case, a Redis call a request.
    new_clients: bool = False

    def request(self, base: str) -> urllib.request.Request:
        if self.body is None:
            return urllib.request.Request(base + self.path)
        return urllib.request.Request(
            base + self.path,
            data=json.dumps(self.body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )


def endpoints(*, players: int, mid_player: str) -> list[Endpoint]:
    """Every read measured, /healthz first (it is measured again last)."""
    board = f"/api/v1/leaderboards/{BOARD_SLUG}"
    week_ago = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)
    friends = sorted(random.Random(0).sample(range(1, players + 1), min(RANKS_PLAYERS, players)))
    standings = urlencode({"metric": METRIC, "from": week_ago.isoformat(), "limit": 100})
    return [
        Endpoint(HEALTHZ, "/healthz"),
        Endpoint("top100", f"{board}/entries/?limit=100"),
        Endpoint("top100 new clients", f"{board}/entries/?limit=100", new_clients=True),
        Endpoint("top10", f"{board}/entries/?limit=10"),
        Endpoint("deep page", f"{board}/entries/?limit=100&offset={players // 2}"),
        Endpoint("rank", f"{board}/players/{quote(mid_player)}/"),
        Endpoint("around", f"{board}/players/{quote(mid_player)}/?around=5"),
        Endpoint("ranks", f"{board}/ranks/", body={"player_ids": [player_id(n) for n in friends]}),
        Endpoint("board", f"{board}/"),
        Endpoint("series current", f"/api/v1/series/{SERIES_SLUG}/current/entries/?limit=100"),
        Endpoint("standings 7d", f"/api/v1/standings/?{standings}"),
    ]


ENDPOINT_NAMES = tuple(e.name for e in endpoints(players=1, mid_player=player_id(1)))


def check_ok(base: str, endpoint: Endpoint) -> None:
    """One request before the load: anything but 200 fails the run, with the body."""
    try:
        with urllib.request.urlopen(endpoint.request(base), timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    if status != 200:
        raise BenchFailed(
            f"{endpoint.name}: {endpoint.path} answered {status}, not 200:\n"
            f"{body.decode(errors='replace')[:2000]}"
        )


def cold_read(base: str, board: Board, *, timeout: float = 120) -> str:
    """Drop the big board from Redis and read it once through the web app: the read is
    answered from PostgreSQL while a worker builds the board in the background. Returns
    the report line: how long that read took, and when the build was ready."""
    cache_drop_board(board.pk)
    # A page size no measured URL used, so no worker has it in its response cache.
    url = f"{base}/api/v1/leaderboards/{board.slug}/entries/?limit=25"
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        status = response.status
    answered_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise BenchFailed(f"the cold read of {board.slug!r} answered {status}")
    meta = BoardKeys.of(board.pk).meta
    while store_client().hget(meta, "state") != b"ready":
        if time.perf_counter() - started > timeout:
            raise BenchFailed(f"the background build of {board.slug!r} never became ready")
        time.sleep(0.1)
    ready_s = time.perf_counter() - started
    return (
        f"cold read: answered in {answered_ms:,.0f} ms from PostgreSQL; the background build"
        f" was ready {ready_s:.1f} s later"
    )
