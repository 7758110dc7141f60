"""The hub of a stream server process: one Redis subscription to the change notices
(leaderboards/cache/changes.py), fanned out in memory to every open stream.

Per board with open streams the hub keeps a watch: the limits and players streamed, and
the last event sent for each. A notice for the board marks it dirty; one task per board
then reads the top N once (N the largest limit streamed) and each watched player's rank
once, in a thread (the reads are the selectors', sync), and offers each stream its event
only if its data changed. Notices that arrive during a read make one more read, not one
each: bursts coalesce. A stream holds at most one pending event (the latest), so a slow
client skips states rather than queueing them. Every STREAM_REFRESH_SECONDS boards with
streams are re-read anyway: notices are at most once, and this bounds what a lost one
costs. A notice of finalisation sends each stream the final standings and ends it.

So the work per change is one read per board per process, whatever the number of
subscribers, and one Redis connection per process subscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis.asyncio
from django.conf import settings

from leaderboards.cache.catalog import catalog
from leaderboards.cache.changes import CHANGES_CHANNEL, changes_decode
from leaderboards.models import Board
from leaderboards.selectors import Entry, board_around, board_entries
from leaderboards.streams.events import HEARTBEAT, Event, entries_data, event_id, rank_data

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
FINALIZED = b"{}"


class Subscriber:
    """One open stream: the latest event not sent yet, whether a heartbeat is due, and
    whether the stream ends. Its response waits on `wake` alone: the hub sets it for an
    event, the end, or a heartbeat (one timer for every stream, not one each)."""

    __slots__ = (
        "_final",
        "_heartbeat",
        "_pending",
        "_sent",
        "board_id",
        "last_sent",
        "limit",
        "player_id",
        "wake",
    )

    def __init__(self, board_id: int, *, limit: int = 0, player_id: str | None = None) -> None:
        self.board_id = board_id
        self.limit = limit
        self.player_id = player_id
        self.wake = asyncio.Event()
        self.last_sent = time.monotonic()
        self._pending: Event | None = None
        self._sent: bytes | None = None
        self._final: list[Event] | None = None
        self._heartbeat = False

    def offer(self, event: Event) -> None:
        self._pending = event
        self.wake.set()

    def end(self, events: list[Event]) -> None:
        self._final = events
        self.wake.set()

    def beat(self) -> None:
        self._heartbeat = True
        self.wake.set()

    @property
    def ended(self) -> bool:
        return self._final is not None

    def take(self) -> list[Event]:
        """What to send now: the pending event unless its data was sent last, then the
        final events (always: the final standings even if unchanged) when it ends."""
        self.wake.clear()
        fresh = []
        if self._pending is not None and self._pending.data != self._sent:
            fresh.append(self._pending)
            self._sent = self._pending.data
        self._pending = None
        return fresh + (self._final or [])

    def take_bytes(self) -> bytes:
        """take() as sent, or a heartbeat when one is due and nothing else goes."""
        sent = b"".join(event.wire for event in self.take())
        if not sent and self._heartbeat:
            sent = HEARTBEAT
        self._heartbeat = False
        if sent:
            self.last_sent = time.monotonic()
        return sent


@dataclass
class Watch:
    """A board's open streams and the last event of each limit and player."""

    slug: str
    limits: dict[int, set[Subscriber]] = field(default_factory=dict)
    players: dict[str, set[Subscriber]] = field(default_factory=dict)
    last_entries: dict[int, Event] = field(default_factory=dict)
    last_ranks: dict[str, Event] = field(default_factory=dict)
    dirty: bool = False
    task: asyncio.Task | None = None

    def subscribers(self) -> Iterable[Subscriber]:
        for group in (*self.limits.values(), *self.players.values()):
            yield from group

    def empty(self) -> bool:
        return not self.limits and not self.players


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one read of a board found: its top entries and its watched players'
    neighbourhoods (one above, one below)."""

    finalized: bool
    count: int
    top: list[Entry]
    around: dict[str, list[Entry]]


def board_snapshot(
    slug: str, limit: int, player_ids: list[str], *, board_id: int | None = None
) -> Snapshot:
    """Read a board's top `limit` and its players' neighbours (sync: run in a thread).
    With `board_id`, the board's row from PostgreSQL rather than the catalog: a board just
    finalised must be read as final."""
    board = Board.objects.get(pk=board_id) if board_id is not None else catalog.board(slug)
    count, top = board_entries(board, offset=0, limit=limit) if limit else (0, [])
    around = {player: board_around(board, player_id=player, n=1) for player in player_ids}
    return Snapshot(board.finalized_at is not None, count, top, around)


def entries_event(snapshot: Snapshot, limit: int) -> Event:
    return Event(event_id(), "entries", entries_data(snapshot.count, snapshot.top[:limit]))


def rank_event(snapshot: Snapshot, player_id: str) -> Event:
    return Event(event_id(), "rank", rank_data(player_id, snapshot.around.get(player_id, [])))


def finalized_event() -> Event:
    return Event(event_id(), "finalized", FINALIZED)


class Hub:
    """The process's subscription and its watches (one hub per event loop)."""

    def __init__(self) -> None:
        self.watches: dict[int, Watch] = {}
        self._finalizing: set[asyncio.Task] = set()
        self._tasks: list[asyncio.Task] = []
        self.reads = 0  # board reads made for changes (the benchmark and tests count them)

    def _ensure_started(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="streams-listen"),
                asyncio.create_task(self._refresh_periodically(), name="streams-refresh"),
                asyncio.create_task(self._heartbeat_periodically(), name="streams-heartbeat"),
            ]

    async def subscribe(
        self, board: Board, *, limit: int = 0, player_id: str | None = None
    ) -> Subscriber:
        """Open a stream of `board`'s top `limit`, or of a player's rank, its first event
        pending (a final board's: its standings, `finalized`, and the end)."""
        self._ensure_started()
        subscriber = Subscriber(board.pk, limit=limit, player_id=player_id)
        players = [player_id] if player_id is not None else []
        if board.finalized_at is not None:
            snapshot = await asyncio.to_thread(
                board_snapshot, board.slug, limit, players, board_id=board.pk
            )
            subscriber.end([self._first_event(snapshot, subscriber), finalized_event()])
            return subscriber
        watch = self.watches.setdefault(board.pk, Watch(slug=board.slug))
        # Registered before the first read, so no change after it goes unseen; the stream
        # skips an offered event whose data it sent already.
        if player_id is None:
            watch.limits.setdefault(limit, set()).add(subscriber)
            known = watch.last_entries.get(limit)
        else:
            watch.players.setdefault(player_id, set()).add(subscriber)
            known = watch.last_ranks.get(player_id)
        if known is not None:
            first = known
        else:
            snapshot = await asyncio.to_thread(board_snapshot, board.slug, limit, players)
            first = self._first_event(snapshot, subscriber)
            if player_id is None:
                watch.last_entries.setdefault(limit, first)
            else:
                watch.last_ranks.setdefault(player_id, first)
        subscriber.offer(first)
        return subscriber

    @staticmethod
    def _first_event(snapshot: Snapshot, subscriber: Subscriber) -> Event:
        if subscriber.player_id is None:
            return entries_event(snapshot, subscriber.limit)
        return rank_event(snapshot, subscriber.player_id)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        watch = self.watches.get(subscriber.board_id)
        if watch is None:
            return
        if subscriber.player_id is None:
            group, key, last = watch.limits, subscriber.limit, watch.last_entries
        else:
            group, key, last = watch.players, subscriber.player_id, watch.last_ranks  # type: ignore[assignment]
        members = group.get(key)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del group[key]
                last.pop(key, None)
        if watch.empty():
            if watch.task is not None:
                watch.task.cancel()
            del self.watches[subscriber.board_id]

    def changed(self, board_ids: Iterable[int]) -> None:
        """Boards that may have changed: each read once more, soon (coalesced)."""
        for board_id in board_ids:
            watch = self.watches.get(board_id)
            if watch is None:
                continue
            watch.dirty = True
            if watch.task is None or watch.task.done():
                watch.task = asyncio.create_task(self._refresh(board_id, watch))

    def finalized(self, board_ids: Iterable[int]) -> None:
        for board_id in board_ids:
            watch = self.watches.pop(board_id, None)
            if watch is not None:
                if watch.task is not None:
                    watch.task.cancel()
                watch.task = asyncio.create_task(self._finalize(board_id, watch))
                self._finalizing.add(watch.task)  # held until done (asyncio keeps weak refs)
                watch.task.add_done_callback(self._finalizing.discard)

    async def _refresh(self, board_id: int, watch: Watch) -> None:
        while watch.dirty and not watch.empty():
            watch.dirty = False
            try:
                snapshot = await asyncio.to_thread(
                    board_snapshot, watch.slug, max(watch.limits, default=0), list(watch.players)
                )
            except Exception as exc:  # the next notice or refresh tries again
                logger.warning("stream read of board %s failed: %r", watch.slug, exc)
                return
            self.reads += 1
            if snapshot.finalized:
                self.finalized([board_id])
                return
            for limit, subscribers in watch.limits.items():
                data = entries_data(snapshot.count, snapshot.top[:limit])
                last = watch.last_entries.get(limit)
                if last is None or last.data != data:
                    watch.last_entries[limit] = event = Event(event_id(), "entries", data)
                    for subscriber in subscribers:
                        subscriber.offer(event)
            for player_id, subscribers in watch.players.items():
                data = rank_data(player_id, snapshot.around.get(player_id, []))
                last = watch.last_ranks.get(player_id)
                if last is None or last.data != data:
                    watch.last_ranks[player_id] = event = Event(event_id(), "rank", data)
                    for subscriber in subscribers:
                        subscriber.offer(event)

    async def _finalize(self, board_id: int, watch: Watch) -> None:
        """Send every stream of the board its final standings, `finalized`, and end it."""
        for attempt in range(5):
            try:
                snapshot = await asyncio.to_thread(
                    board_snapshot,
                    watch.slug,
                    max(watch.limits, default=0),
                    list(watch.players),
                    board_id=board_id,
                )
                break
            except Exception as exc:
                logger.warning("final read of board %s failed: %r", watch.slug, exc)
                await asyncio.sleep(RECONNECT_SECONDS * (attempt + 1))
        else:
            snapshot = None
        done = finalized_event()
        for subscriber in list(watch.subscribers()):
            events = [] if snapshot is None else [self._first_event(snapshot, subscriber)]
            subscriber.end([*events, done])

    async def _listen(self) -> None:
        """The one subscription: notices in, watches marked; reconnects for ever."""
        while True:
            client = redis.asyncio.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=30
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANGES_CHANNEL)
                    # Whatever changed while (re)connecting was not heard: read it all again.
                    self.changed(list(self.watches))
                    async for message in pubsub.listen():
                        notice = changes_decode(message["data"])
                        if notice is not None:
                            self.changed(notice.boards)
                            self.finalized(notice.finalized)
            except (redis.RedisError, OSError) as exc:
                logger.warning("stream subscription lost, reconnecting: %r", exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(settings.STREAM_REFRESH_SECONDS)
            self.changed(list(self.watches))

    async def _heartbeat_periodically(self) -> None:
        """Every half heartbeat, a heartbeat to each stream silent for that long: no stream
        goes a whole STREAM_HEARTBEAT_SECONDS without a line."""
        every = settings.STREAM_HEARTBEAT_SECONDS / 2
        while True:
            await asyncio.sleep(every)
            silent_since = time.monotonic() - every
            for watch in list(self.watches.values()):
                for subscriber in watch.subscribers():
                    if subscriber.last_sent <= silent_since:
                        subscriber.beat()


hub = Hub()
