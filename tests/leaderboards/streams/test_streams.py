"""The stream server end to end: `manage.py serve_streams` in a child process, the real
consumer feeding the board through Kafka, and plain HTTP clients reading the events: the
events, admission (429s), hostile Last-Event-IDs, and finalisation."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from leaderboards.cache.builds import cache_build_board, cache_drop_board
from leaderboards.cache.store import get_store
from leaderboards.services import board_finalize
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consumer_process, produce, stop, wait_for
from tests.leaderboards.streams.server import stream_server

pytestmark = pytest.mark.django_db(transaction=True)


class Stream:
    """One SSE connection, read event by event (comments included, as `comment`)."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.connection.request("GET", path, headers=headers or {})
        self.response = self.connection.getresponse()

    def next(self, *, comments: bool = False, timeout: float = 5) -> dict | None:
        """The next event (or comment), None when the stream ended."""
        self.connection.sock.settimeout(timeout)
        fields: dict = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in fields or ("comment" in fields and comments):
                    if "data" in fields:
                        fields["json"] = json.loads(fields["data"])
                    return fields
                fields = {}
                continue
            name, _, value = line.partition(":")
            if name == "" and comments:
                fields["comment"] = value.strip()
            elif name in ("id", "event", "data"):
                fields[name] = value.lstrip()

    def silent_for(self, heartbeats: int) -> bool:
        """True if only heartbeats came, `heartbeats` of them (a socket that timed out
        cannot be read again, so silence is counted in heartbeats, not waited out)."""
        for _ in range(heartbeats):
            event = self.next(comments=True)
            if event is None or "data" in event:
                return False
        return True

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def server(redis_client):
    with stream_server(
        STREAM_HEARTBEAT_SECONDS="1", STREAM_REFRESH_SECONDS="60", STREAM_MAX_PER_CLIENT="1000"
    ) as server:
        yield server


@pytest.fixture
def stream_port(server):
    return server.port


@pytest.fixture
def consumer(topic, redis_client):
    process = consumer_process(topic, f"group-{topic}", env={"INGEST_BATCH_TIMEOUT_MS": "100"})
    yield topic
    stop(process)


def send(topic: str, *scores: tuple[str, int]) -> None:
    produce(
        ((player.encode(), json.dumps({"player_id": player, "delta": delta}).encode())
         for player, delta in scores),
        topic,
    )  # fmt: skip


@pytest.mark.slow
def test_a_board_stream_sends_the_top_n_then_each_change_then_the_end(stream_port, consumer):
    board = BoardFactory()
    send(consumer, ("a", 30), ("b", 20), ("c", 10))
    cache_build_board(board)
    wait_for(lambda: _top(stream_port, board.slug) == ["a", "b", "c"], timeout=90)

    stream = Stream(stream_port, f"/api/v1/leaderboards/{board.slug}/stream/?limit=2")
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type").startswith("text/event-stream")
    first = stream.next()
    assert first["event"] == "entries"
    assert first["id"]
    assert first["json"] == {
        "count": 3,
        "results": [
            {"rank": 1, "player_id": "a", "display_name": "a", "score": 30},
            {"rank": 2, "player_id": "b", "display_name": "b", "score": 20},
        ],
    }

    # A change below the top 2 sends nothing; heartbeats keep coming meanwhile.
    send(consumer, ("c", 1))
    assert stream.next(comments=True, timeout=3)["comment"] == "heartbeat"
    assert stream.silent_for(3)

    # Overtaking inside the top 2: one event, within a second of the apply.
    sent = time.monotonic()
    send(consumer, ("c", 100))
    changed = stream.next(timeout=10)
    assert [r["player_id"] for r in changed["json"]["results"]] == ["c", "a"]
    assert int(changed["id"]) > int(first["id"])
    assert time.monotonic() - sent < 5  # includes Kafka and the consumer's batch

    # A reconnect with Last-Event-ID gets the current top N at once.
    again = Stream(
        stream_port,
        f"/api/v1/leaderboards/{board.slug}/stream/?limit=2",
        headers={"Last-Event-ID": first["id"]},
    )
    assert again.next()["json"] == changed["json"]

    # Finalisation: the final standings, then `finalized`, then the end.
    assert board_finalize(board.pk)
    for each in (stream, again):
        final = each.next(timeout=10)
        assert final["event"] == "entries"
        assert [r["player_id"] for r in final["json"]["results"]] == ["c", "a"]
        assert each.next()["event"] == "finalized"
        assert each.next() is None


def _top(port: int, slug: str) -> list[str]:
    stream = Stream(port, f"/api/v1/leaderboards/{slug}/stream/")
    try:
        return [r["player_id"] for r in stream.next()["json"]["results"]]
    finally:
        stream.close()


@pytest.mark.slow
def test_a_player_stream_says_when_the_player_is_overtaken(stream_port, consumer):
    board = BoardFactory()
    send(consumer, ("me", 50), ("above", 80), ("below", 10))
    cache_build_board(board)
    wait_for(lambda: len(_top(stream_port, board.slug)) == 3, timeout=90)

    stream = Stream(stream_port, f"/api/v1/leaderboards/{board.slug}/players/me/stream/")
    first = stream.next()
    assert first["event"] == "rank"
    assert first["json"]["rank"] == 2
    assert first["json"]["score"] == 50
    assert first["json"]["above"]["player_id"] == "above"
    assert first["json"]["below"]["player_id"] == "below"

    send(consumer, ("below", 100))
    overtaken = stream.next(timeout=10)["json"]
    assert overtaken["rank"] == 3
    assert overtaken["score"] == 50
    assert overtaken["above"]["player_id"] == "above"
    assert overtaken["below"] is None


@pytest.mark.slow
def test_hundreds_of_streams_share_one_subscription_and_one_read_a_change(
    server, stream_port, consumer, redis_client
):
    board = BoardFactory()
    send(consumer, ("a", 5))
    cache_build_board(board)
    wait_for(lambda: _top(stream_port, board.slug) == ["a"], timeout=90)

    streams = [
        Stream(stream_port, f"/api/v1/leaderboards/{board.slug}/stream/") for _ in range(300)
    ]
    for stream in streams:
        assert stream.next()["json"]["results"][0]["player_id"] == "a"
    assert redis_client.pubsub_numsub("lb:changes") == [(b"lb:changes", 1)]
    assert server.threads() < 50  # not one a stream (config/asgi.py)
    redis_client.config_resetstat()

    send(consumer, ("b", 50))
    for stream in streams:
        assert [r["player_id"] for r in stream.next(timeout=10)["json"]["results"]] == ["b", "a"]
    stats = redis_client.info("commandstats")
    # One read of the board for the change (top.lua through EVALSHA), not one a stream:
    # the consumer's apply and the catalog account for the rest.
    evalsha = stats.get("cmdstat_evalsha", {}).get("calls", 0)
    assert evalsha < 10, stats
    for stream in streams:
        stream.close()


def test_a_bad_limit_or_an_unknown_board_is_refused(stream_port):
    board = BoardFactory()
    for path, status in [
        (f"/api/v1/leaderboards/{board.slug}/stream/?limit=0", 400),
        (f"/api/v1/leaderboards/{board.slug}/stream/?limit=101", 400),
        ("/api/v1/leaderboards/no-such-board/stream/", 404),
    ]:
        stream = Stream(stream_port, path)
        assert stream.response.status == status, path
        stream.close()


# -- admission: the read rate limit and the cap on open streams ------------------------------


def test_the_read_rate_limit_refuses_a_connect_with_429(redis_client):
    board = BoardFactory()
    with stream_server(THROTTLE_READ_RATE="2/minute") as (port, _):
        path = f"/api/v1/leaderboards/{board.slug}/stream/"
        admitted = [Stream(port, path) for _ in range(2)]
        refused = Stream(port, path)

        assert [stream.response.status for stream in admitted] == [200, 200]
        assert refused.response.status == 429
        assert 0 < int(refused.response.getheader("Retry-After")) <= 60
        assert "throttled" in json.loads(refused.response.read())["detail"].lower()
        for stream in admitted:
            assert stream.next()["event"] == "entries"  # admitted streams go on


def test_a_client_may_hold_only_so_many_open_streams(redis_client):
    board = BoardFactory()
    with stream_server(STREAM_MAX_PER_CLIENT="2", THROTTLE_READ_RATE="off") as (port, _):
        path = f"/api/v1/leaderboards/{board.slug}/players/p1/stream/"
        first, second = Stream(port, path), Stream(port, path)
        assert first.next()["event"] == second.next()["event"] == "rank"

        third = Stream(port, path)
        assert third.response.status == 429
        assert int(third.response.getheader("Retry-After")) > 0
        assert "at most 2" in json.loads(third.response.read())["detail"]

        # Closing one frees its place (once the server has seen the client leave).
        first.close()

        def admitted() -> bool:
            stream = Stream(port, path)
            try:
                return stream.response.status == 200
            finally:
                stream.close()

        wait_for(admitted, timeout=10, message="a place freed by a closed stream")


def test_streams_from_our_pages_on_another_origin_are_readable_and_others_are_not(stream_port):
    board = BoardFactory()
    path = f"/api/v1/leaderboards/{board.slug}/stream/"

    ours = Stream(stream_port, path, headers={"Origin": "http://localhost:8000"})
    theirs = Stream(stream_port, path, headers={"Origin": "https://elsewhere.example"})

    assert ours.response.getheader("Access-Control-Allow-Origin") == "http://localhost:8000"
    assert "origin" in ours.response.getheader("Vary").lower()
    assert theirs.response.getheader("Access-Control-Allow-Origin") is None
    assert theirs.next()["event"] == "entries"  # the stream itself is the same


# -- Last-Event-ID: any value gets the current state --------------------------------------


@pytest.mark.parametrize(
    "last_event_id",
    [
        b"garbage",
        b"-1",
        b"9" * 4000,  # huge, and an id from the far future
        "ünïcødé ✓ 順位".encode(),
        b"\xff\xfe invalid utf-8",
    ],
    ids=["garbage", "negative", "huge", "non-ascii", "not-utf-8"],
)
def test_a_hostile_last_event_id_gets_the_current_state(stream_port, last_event_id):
    board = BoardFactory()
    path = f"/api/v1/leaderboards/{board.slug}/stream/?limit=3"

    stream = Stream(stream_port, path, headers={"Last-Event-ID": last_event_id})

    assert stream.response.status == 200
    first = stream.next()
    assert first["event"] == "entries"
    assert first["json"] == {"count": 0, "results": []}
    assert int(first["id"]) > 0


# -- finalisation while the board is being rebuilt -------------------------------------------


@pytest.mark.slow
def test_a_board_finalised_mid_rebuild_ends_its_streams_with_the_final_standings(
    stream_port, consumer, redis_client
):
    board = BoardFactory()
    send(consumer, ("a", 30), ("b", 20))
    cache_build_board(board)
    wait_for(lambda: _top(stream_port, board.slug) == ["a", "b"], timeout=90)
    stream = Stream(stream_port, f"/api/v1/leaderboards/{board.slug}/stream/")
    assert [r["player_id"] for r in stream.next()["json"]["results"]] == ["a", "b"]

    # A rebuild begins (the cached copy dropped, a build owning the board) and has not
    # finished when the board is finalised: the stream still ends on the final standings.
    store = get_store()
    cache_drop_board(board.pk)
    assert store.begin_build(board, "a-build-that-hangs")
    assert store.state(board) == "building"
    try:
        assert board_finalize(board.pk)
        final = stream.next(timeout=10)
        assert final["event"] == "entries"
        assert [r["player_id"] for r in final["json"]["results"]] == ["a", "b"]
        assert stream.next()["event"] == "finalized"
        assert stream.next() is None
    finally:
        store.abandon_build(board, "a-build-that-hangs")
