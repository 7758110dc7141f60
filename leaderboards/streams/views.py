"""The stream views (async, served by the stream server's ASGI application): a board's top
N and a player's rank, as Server-Sent Events. Admission at connect: the read rate limit
(config/throttling.py) and at most STREAM_MAX_PER_CLIENT open streams per client address
in this process; then the hub (hub.py) sends the events."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe
from rest_framework.exceptions import Throttled

from config.renderers import error_response
from config.throttling import ReadRateThrottle, client_ip
from leaderboards.cache.catalog import catalog
from leaderboards.models import Board
from leaderboards.streams.events import RETRY
from leaderboards.streams.hub import Subscriber, hub

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

_open_per_client: Counter[str] = Counter()


def _admit(request: HttpRequest) -> HttpResponse | None:
    """None when the client may open one more stream, else the refusal (429)."""
    throttle = ReadRateThrottle()
    if not throttle.allow_request(request, None):
        wait = throttle.wait()
        refused = error_response(request, str(Throttled(wait).detail), 429)
        refused["Retry-After"] = str(wait)
        return refused
    if _open_per_client[client_ip(request)] >= settings.STREAM_MAX_PER_CLIENT:
        refused = error_response(
            request,
            f"Too many open streams from this address (at most {settings.STREAM_MAX_PER_CLIENT}).",
            429,
        )
        refused["Retry-After"] = str(settings.STREAM_HEARTBEAT_SECONDS)
        return refused
    return None


def _limit(request: HttpRequest) -> int | None:
    text = request.GET.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_LIMIT else None


def _admit_to(request: HttpRequest, slug: str) -> tuple[Board | None, HttpResponse | None]:
    """The board, or the refusal (429, 404). Sync, and one thread hop for both: under a
    reconnect storm every hop a connect makes counts."""
    refused = _admit(request)
    if refused is not None:
        return None, refused
    try:
        return catalog.board(slug), None
    except Http404:
        return None, error_response(request, f"No board {slug!r}.", 404)


async def _open(request: HttpRequest, slug: str) -> tuple[Board | None, HttpResponse | None]:
    return await asyncio.to_thread(_admit_to, request, slug)


def _stream(request: HttpRequest, subscriber: Subscriber) -> StreamingHttpResponse:
    address = client_ip(request)
    _open_per_client[address] += 1
    response = StreamingHttpResponse(_events(subscriber, address), content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _events(subscriber: Subscriber, address: str) -> AsyncIterator[bytes]:
    """The stream: its events as they come, a heartbeat comment when none came for a
    while (the hub says when), until the board is finalised or the client leaves."""
    try:
        yield RETRY
        while True:
            await subscriber.wake.wait()
            sent = subscriber.take_bytes()
            if sent:
                yield sent
            if subscriber.ended:
                return
    finally:
        hub.unsubscribe(subscriber)
        _open_per_client[address] -= 1
        if _open_per_client[address] <= 0:
            del _open_per_client[address]


@require_safe
async def board_stream(request: HttpRequest, slug: str) -> HttpResponseBase:
    """`entries` events: the board's top N (?limit=N, 1 to 100, default 10) on connect and
    on every change; a final one and `finalized` when the board is finalised. A
    Last-Event-ID on reconnect gets the current top N, like a first connect."""
    limit = _limit(request)
    if limit is None:
        return JsonResponse({"limit": [f"A whole number from 1 to {MAX_LIMIT}."]}, status=400)
    board, refused = await _open(request, slug)
    if board is None:
        return refused  # type: ignore[return-value]
    return _stream(request, await hub.subscribe(board, limit=limit))


@require_safe
async def player_stream(request: HttpRequest, slug: str, player_id: str) -> HttpResponseBase:
    """`rank` events: the player's rank, score and the players just above and below, on
    connect and on every change of them; `finalized` when the board is finalised."""
    board, refused = await _open(request, slug)
    if board is None:
        return refused  # type: ignore[return-value]
    return _stream(request, await hub.subscribe(board, player_id=player_id))
