"""Erasure (issue 21, item 3): nothing of the player is left in any table or Redis key,
everyone else closes up on live and finalised boards, a database that fails midway leaves
nothing half-done, and a replayed event cannot bring the player back, even racing the
erasure. The Kafka end-to-end case is tests/ingestion/test_erasure_replays.py."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
import redis as redis_lib
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import Scope
from ingestion.batches import DecodedBatch, store_batch
from ingestion.consumer import ScoreConsumer
from ingestion.events import ScoreEvent, dedupe_key
from ingestion.models import RejectedEvent
from ingestion.services import RejectedMessage, rejected_events_store
from leaderboards.cache.builds import cache_build_board
from leaderboards.cache.store import get_store
from leaderboards.erasure import player_erase
from leaderboards.models import (
    Aggregation,
    Board,
    BucketMember,
    DailyRollup,
    FinalStanding,
    HourlyRollup,
    Participant,
    ScoreCut,
    ScoreDelta,
    SortOrder,
    TieBreak,
    WeeklyRollup,
)
from leaderboards.postgres.final import final_page
from leaderboards.postgres.rollups import rollups_advance
from leaderboards.recording import RecordedBatch, scores_publish_batch
from leaderboards.selectors import board_entries
from leaderboards.services import board_finalize
from leaderboards.signals import player_erasing
from leaderboards.tournaments import participant_join
from players.audit import Actor, player_hash
from players.models import AuditEntry, Player, Tombstone
from players.services import player_profile_set
from tests.factories import api_client_with
from tests.leaderboards.test_moderation import everywhere, make_board
from tests.leaderboards.test_tie_breaks import MOMENTS, STARTS, Event, feed, reference, triples
from webhooks.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.api_key("tests")
# Strings found nowhere else, so a scan for them finds only what the erasure left.
ERASED = "gdpr-erase-9f3c2b71"
NAME = "Zoë Quillfeather 4e7a"


def moderator() -> APIClient:
    return api_client_with(Scope.PLAYERS_MODERATE, name="privacy-desk")


def score(
    player: str,
    delta: int,
    at: datetime,
    *,
    event_id: str | None = None,
    name: str | None = None,
) -> ScoreEvent:
    return ScoreEvent(
        player_id=player,
        metric="score",
        delta=delta,
        created_at=at,
        event_id=event_id,
        dedupe_key=dedupe_key(event_id, player, "score", at),
        display_name=name,
    )


class Feed:
    """Batches stored as the consumer stores them (one transaction, then the cached boards),
    all from one Kafka partition whose offsets carry on from batch to batch."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.position = -1

    def __call__(
        self,
        *messages: ScoreEvent | RejectedMessage,
        known: dict[str, int] | None = None,
    ) -> RecordedBatch:
        batch = self.batch(*messages)
        stored = store_batch(topic=self.topic, batch=batch, known_players=known)
        self.publish(batch, stored)
        return stored

    def batch(self, *messages: ScoreEvent | RejectedMessage) -> DecodedBatch:
        batch = DecodedBatch()
        first = max(self.position, 0)
        for message in messages:
            if isinstance(message, ScoreEvent):
                batch.events.append((0, message))
            else:
                batch.rejected.append(message)
        batch.first_offsets = {0: first}
        batch.next_offsets = {0: first + max(len(messages), 1)}
        return batch

    def publish(self, batch: DecodedBatch, stored: RecordedBatch) -> None:
        end = batch.next_offsets[0]
        scores_publish_batch(new=stored.new, positions={0: (self.position, end)}, renamed={})
        self.position = end


def rejected(player: str, raw: bytes, *, sent_at: datetime | None, key: bool = True):
    return RejectedMessage(
        topic="score-events",
        partition=0,
        offset=None,
        key=player.encode() if key else None,
        raw=raw,
        reason="wrong_type",
        detail="delta must be an integer, got a string",
        sent_at=sent_at,
        player_ids=(player,),
    )


# -- nothing left ------------------------------------------------------------------------


def holders(*texts: str) -> list[str]:
    """Every column of every table, and every Redis key, member, field and value, that holds
    one of the texts (bytes columns searched for their UTF-8 bytes)."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)"
            "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
        )
        columns = cursor.fetchall()
        assert len(columns) > 100  # every table, the delta log's partitions among them
        for table, column, kind in columns:
            table_q, column_q = connection.ops.quote_name(table), connection.ops.quote_name(column)
            for text in texts:
                if kind == "bytea":
                    where, value = f"position(%s::bytea IN {column_q}) > 0", text.encode()
                else:
                    where, value = f"strpos({column_q}::text, %s) > 0", text
                cursor.execute(f"SELECT count(*) FROM {table_q} WHERE {where}", [value])
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column} holds {text!r}")
    for url in {settings.REDIS_URL, settings.CACHE_REDIS_URL}:
        with redis_lib.Redis.from_url(url) as client:
            for key in client.scan_iter(count=1000):
                for part in _redis_parts(client, key):
                    for text in texts:
                        if text.encode() in part:
                            found.append(f"redis {key!r} holds {text!r}")
    return sorted(set(found))


def _redis_parts(client: redis_lib.Redis, key: bytes) -> Iterator[bytes]:
    yield key
    kind = client.type(key).decode()
    if kind == "string":
        yield client.get(key) or b""
    elif kind == "hash":
        for field, value in client.hgetall(key).items():
            yield field
            yield value
    elif kind == "zset":
        yield from client.zrange(key, 0, -1)
    elif kind == "set":
        yield from client.smembers(key)
    elif kind == "list":
        yield from client.lrange(key, 0, -1)
    elif kind == "stream":
        for _, fields in client.xrange(key):
            for field, value in fields.items():
                yield field
                yield value


def age_deltas() -> None:
    """Ingested a day ago: the rollups take them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leaderboards_scoredelta SET ingested_at = ingested_at - interval '1 day'"
        )


def test_an_erasure_leaves_the_id_and_the_name_nowhere(store, topic, admin_client):
    """Every table and every Redis key is searched for the id and the name, after the player
    was everywhere: deltas, rollups, live boards in Redis (both tie-breaks), a finalised
    board and its webhook message, a tournament, a league, rejected events, the audit log
    (a ban and a score removal naming them), the admin's history, the names hash."""
    live = Board.objects.create(slug="live", name="Live", starts_at=STARTS)
    earliest = Board.objects.create(
        slug="earliest", name="Earliest", starts_at=STARTS, tie_break=TieBreak.EARLIEST
    )
    Board.objects.create(slug="league", name="League", starts_at=STARTS, bucket_size=2)
    cup = Board.objects.create(slug="cup", name="Cup", starts_at=STARTS, join_required=True)
    done = Board.objects.create(
        slug="done", name="Done", starts_at=STARTS, ends_at=STARTS + timedelta(days=1)
    )
    participant_join(board=cup, player_id=ERASED)  # a row made outside the consumer
    player_profile_set(
        external_id=ERASED, display_name=NAME, metadata={"nick": NAME, "twin": ERASED}
    )
    ingest = Feed(topic)
    ingest(
        score(ERASED, 40, MOMENTS[1], event_id=f"{ERASED}-1", name=NAME),
        score(ERASED, 5, MOMENTS[2]),
        score("ann", 30, MOMENTS[1]),
        score("bob", 20, MOMENTS[2]),
        score("cy", 10, MOMENTS[3]),
    )
    participant_join(board=cup, player_id="ann")
    age_deltas()
    assert rollups_advance().hourly_rows
    for board in (live, earliest):
        assert board_entries(board, offset=0, limit=10)[0] == 4  # built into Redis
        assert get_store().state(board) == "ready"
    assert board_finalize(done.pk)  # final standings, and the board.finalized message
    ingest(score(ERASED, 1, MOMENTS[4]))  # applied to the cached boards
    client = moderator()
    reason = f"cheating, see {ERASED}"
    assert client.post(f"/api/v1/players/{ERASED}/ban/", {"reason": reason}).status_code == 200
    assert client.delete(f"/api/v1/players/{ERASED}/ban/").status_code == 204
    assert client.delete(f"/api/v1/leaderboards/earliest/players/{ERASED}/").status_code == 204
    assert client.get(f"/api/v1/players/{ERASED}/export/").status_code == 200
    pk = Player.objects.get(external_id=ERASED).pk
    saved = admin_client.post(
        f"/admin/players/player/{pk}/change/",
        {"external_id": ERASED, "display_name": NAME, "metadata": '{"nick": "z"}'},
    )
    assert saved.status_code == 302
    rejected_events_store(
        rejected=[
            rejected(ERASED, b'{"player_id": "%s", "delta": "x"}' % ERASED.encode(), sent_at=None),
            rejected(
                "ann", f'{{"player_id":"ann","display_name":"{NAME}"}}'.encode(), sent_at=None
            ),
            rejected("ann", b'{"player_id": "ann", "delta": "y"}', sent_at=None),
        ]
    )
    for model in (ScoreDelta, HourlyRollup, DailyRollup, WeeklyRollup, FinalStanding):
        assert model.objects.filter(player_id=pk).exists(), model
    assert Participant.objects.filter(player_id=pk).exists()
    assert BucketMember.objects.filter(player_id=pk).exists()
    assert ScoreCut.objects.filter(player_id=pk).exists()
    assert Message.objects.filter(body__contains=ERASED).exists()
    assert len(holders(ERASED, NAME)) > 12  # the scan sees them

    response = client.delete(
        f"/api/v1/players/{ERASED}/", {"reason": f"GDPR request for {ERASED} ({NAME})"}
    )

    assert response.status_code == 204
    assert holders(ERASED, NAME) == []
    assert client.get(f"/api/v1/players/{ERASED}/").status_code == 404
    assert Tombstone.objects.filter(player_hash=player_hash(ERASED)).exists()
    erase = AuditEntry.objects.get(action="erase")
    assert (erase.player_hash, erase.actor, erase.reason) == (
        player_hash(ERASED),
        "privacy-desk",
        "GDPR request for [erased] ([erased])",
    )
    assert set(AuditEntry.objects.values_list("action", "player_hash")) == {
        (action, player_hash(ERASED))
        for action in ("ban", "unban", "remove_score", "export", "erase")
    }
    assert RejectedEvent.objects.count() == 1  # ann's other dead letter stays
    assert [e.player_id for e in board_entries(live, offset=0, limit=10)[1]] == ["ann", "bob", "cy"]
    assert [e.player_id for e in board_entries(done, offset=0, limit=10)[1]] == ["ann", "bob", "cy"]
    body = Message.objects.get().body
    assert '"player_id":"[erased]","display_name":"[erased]"' in body


def test_a_webhook_message_keeps_the_erased_players_place_without_their_name(topic):
    done = Board.objects.create(
        slug="done", name="Done", starts_at=STARTS, ends_at=STARTS + timedelta(days=1)
    )
    player_profile_set(external_id="p2", display_name="Old Name")
    Feed(topic)(score("p1", 9, MOMENTS[0]), score("p2", 5, MOMENTS[1]))
    assert board_finalize(done.pk)
    Player.objects.filter(external_id="p2").update(display_name="New Name")

    player_erase(player_id="p2", actor=ACTOR)

    results = json.loads(Message.objects.get().body)["data"]["results"]
    assert results == [
        {"rank": 1, "player_id": "p1", "display_name": "p1", "score": 9},
        {"rank": 2, "player_id": "[erased]", "display_name": "[erased]", "score": 5},
    ]


# -- others close up ---------------------------------------------------------------------


SCORES = [
    Event("a", 5, MOMENTS[0], 0, uuid.uuid4()),
    Event("b", 9, MOMENTS[1], 0, uuid.uuid4()),
    Event("c", 5, MOMENTS[2], 0, uuid.uuid4()),
    Event("b", 1, MOMENTS[3], 0, uuid.uuid4()),
    Event("d", 1, MOMENTS[3], 0, uuid.uuid4()),
]


@pytest.mark.parametrize("tie_break", TieBreak.values)
def test_everyone_else_closes_up_on_live_and_finalised_boards(redis_client, topic, tie_break):
    live = make_board(tie_break, slug="live")
    done = make_board(tie_break, slug="done")
    assert cache_build_board(live) == "ready"
    feed(SCORES, 1)
    assert board_finalize(done.pk)
    full = reference(SCORES, Aggregation.SUM, SortOrder.DESC, tie_break)
    without_b = reference(
        [e for e in SCORES if e.player != "b"], Aggregation.SUM, SortOrder.DESC, tie_break
    )
    assert everywhere(live) == {"redis": full, "postgres": full}
    assert triples(final_page(done.pk, offset=0, limit=10).standings) == full

    erasure = player_erase(player_id="b", actor=ACTOR)

    assert (erasure.deltas, erasure.redis_cleaned) == (2, True)
    assert everywhere(live) == {"redis": without_b, "postgres": without_b}
    assert triples(final_page(done.pk, offset=0, limit=10).standings) == without_b
    assert without_b[0][:2] == (1, "a")
    assert final_page(done.pk, offset=0, limit=10).count == 3


def test_an_unknown_player_is_a_404_and_an_erased_one_erased_again_is_done():
    from django.http import Http404

    with pytest.raises(Http404):
        player_erase(player_id="nobody", actor=ACTOR)
    Player.objects.create(external_id="p1")

    first = player_erase(player_id="p1", actor=ACTOR, reason="asked")
    again = player_erase(player_id="p1", actor=ACTOR)

    assert first.erased_at is not None
    assert again.erased_at is None
    assert again.redis_cleaned is True
    assert AuditEntry.objects.filter(action="erase").count() == 1


# -- nothing half-done -------------------------------------------------------------------


def test_a_database_failing_midway_leaves_everything_and_a_retry_erases(store, topic, monkeypatch):
    """The connection dies after the deltas are deleted: the transaction rolls back whole
    (the answer is a 503), and the same request again does all of it."""
    live = Board.objects.create(slug="live", name="Live", starts_at=STARTS)
    Feed(topic)(score(ERASED, 4, MOMENTS[0]), score("ann", 3, MOMENTS[1]))
    board_entries(live, offset=0, limit=10)  # cached
    from leaderboards import erasure

    real = erasure.rollups_erase

    def connection_dies(**kwargs):
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"],
            port=db["PORT"],
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"] or None,
            autocommit=True,
        ) as other:
            other.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )
        return real(**kwargs)

    monkeypatch.setattr(erasure, "rollups_erase", connection_dies)
    client = moderator()

    failed = client.delete(f"/api/v1/players/{ERASED}/")

    assert failed.status_code == 503
    assert failed.headers["Retry-After"]
    assert ScoreDelta.objects.filter(player__external_id=ERASED).count() == 1
    assert not Tombstone.objects.exists()
    assert not AuditEntry.objects.exists()
    assert ERASED in [s.player_id for s in get_store().top(live, 0, 10).standings]

    monkeypatch.setattr(erasure, "rollups_erase", real)
    assert client.delete(f"/api/v1/players/{ERASED}/").status_code == 204
    assert holders(ERASED) == []
    assert AuditEntry.objects.filter(action="erase").count() == 1


def test_redis_refusing_the_erasure_is_a_503_and_a_retry_finishes_it(store, topic, redis_client):
    live = Board.objects.create(slug="live", name="Live", starts_at=STARTS)
    player_profile_set(external_id=ERASED, display_name=NAME)
    Feed(topic)(score(ERASED, 4, MOMENTS[0]), score("ann", 3, MOMENTS[1]))
    board_entries(live, offset=0, limit=10)  # cached, with the names
    client = moderator()
    redis_client.execute_command("ACL", "SETUSER", "default", "-del", "-hdel", "-unlink")
    try:
        refused = client.delete(f"/api/v1/players/{ERASED}/")
    finally:
        redis_client.execute_command("ACL", "SETUSER", "default", "+@all")

    assert refused.status_code == 503
    assert "send the request again" in refused.json()["detail"]
    assert not Player.objects.filter(external_id=ERASED).exists()  # PostgreSQL: done
    assert holders(ERASED, NAME)  # Redis: not yet

    assert client.delete(f"/api/v1/players/{ERASED}/").status_code == 204
    assert holders(ERASED, NAME) == []
    assert AuditEntry.objects.filter(action="erase").count() == 1


# -- replays -----------------------------------------------------------------------------


def test_replays_stamped_before_the_erasure_are_dropped_and_later_events_start_afresh(store, topic):
    live = Board.objects.create(slug="live", name="Live", starts_at=STARTS)
    feed = Feed(topic)
    old = [
        score(ERASED, 40, MOMENTS[1], event_id="e-1", name=NAME),
        score(ERASED, 2, MOMENTS[2]),
    ]
    feed(*old, score("ann", 30, MOMENTS[1]))
    player_erase(player_id=ERASED, actor=ACTOR)
    after = timezone.now() + timedelta(seconds=1)

    replayed = feed(*old, score(ERASED, 7, MOMENTS[3], event_id="e-new-but-old"))
    assert (replayed.erased, len(replayed.new)) == (3, 0)
    assert not Player.objects.filter(external_id=ERASED).exists()

    fresh = feed(score(ERASED, 3, after, event_id="e-after"), *old)
    assert (fresh.erased, len(fresh.new)) == (2, 1)
    player = Player.objects.get(external_id=ERASED)
    assert player.display_name == ""  # the old events' name came with the replays
    assert player.replays_until is not None
    # The player exists again: replays arriving now are still dropped.
    assert feed(*old).erased == 2
    assert list(ScoreDelta.objects.filter(player=player).values_list("delta", flat=True)) == [3]
    entries = board_entries(live, offset=0, limit=10)[1]
    assert [(e.player_id, e.score) for e in entries] == [("ann", 30), (ERASED, 3)]
    assert not RejectedEvent.objects.exists()
    assert holders(NAME) == []


def test_a_player_created_again_outside_the_consumer_still_drops_replays(topic):
    feed = Feed(topic)
    old = score(ERASED, 40, MOMENTS[1], event_id="e-1")
    feed(old)
    player_erase(player_id=ERASED, actor=ACTOR)
    player_profile_set(external_id=ERASED, display_name="Someone new")  # unchecked

    assert feed(old).erased == 1
    assert not ScoreDelta.objects.exists()
    player = Player.objects.get(external_id=ERASED)
    assert player.tombstone_checked
    assert player.replays_until is not None


def test_known_players_cost_no_tombstone_lookup(topic, django_assert_max_num_queries):
    feed = Feed(topic)
    first = feed(score("ann", 1, MOMENTS[0]), score("bob", 1, MOMENTS[0]))
    known = first.looked_up
    assert set(known) == {"ann", "bob"}
    batch = feed.batch(score("ann", 2, MOMENTS[1]), score("bob", 2, MOMENTS[1]))

    with django_assert_max_num_queries(20) as queries:
        store_batch(topic=topic, batch=batch, known_players=known)

    # Only the lock that keeps them from being erased under the batch (players_hold).
    players = [q["sql"] for q in queries.captured_queries if "players_" in q["sql"]]
    assert len(players) == 1
    assert "FOR KEY SHARE" in players[0]
    newcomers = feed.batch(*(score(f"new-{n}", 1, MOMENTS[1]) for n in range(50)))
    with django_assert_max_num_queries(20) as queries:
        store_batch(topic=topic, batch=newcomers, known_players=known)
    lookups = [q for q in queries.captured_queries if "players_tombstone" in q["sql"]]
    assert len(lookups) == 1  # one query for the batch's fifty new players


def test_the_command_erases_and_says_what_it_kept(capsys):
    Player.objects.create(external_id="p1")

    call_command("erase_player", "p1", "--reason", "by post")
    call_command("erase_player", "p1")

    out = capsys.readouterr().out
    assert f"kept the hash {player_hash('p1')}" in out
    assert "Erased already" in out
    entry = AuditEntry.objects.get()
    assert (entry.actor_kind, entry.reason) == ("command", "by post")
    with pytest.raises(CommandError, match="No player 'p2'"):
        call_command("erase_player", "p2")


def test_rejected_messages_of_an_erased_player_sent_before_the_erasure_are_dropped(topic):
    feed = Feed(topic)
    feed(score(ERASED, 1, MOMENTS[0]))
    player_erase(player_id=ERASED, actor=ACTOR)
    before, after = timezone.now() - timedelta(minutes=5), timezone.now() + timedelta(seconds=1)
    raw = b'{"player_id": "%s", "delta": "x"}' % ERASED.encode()

    stored = feed(
        rejected(ERASED, raw, sent_at=before),
        rejected(ERASED, raw, sent_at=None),
        rejected(ERASED, raw, sent_at=after),
        rejected("ann", raw, sent_at=before, key=False),
    )

    assert stored.erased == 2
    assert sorted(bytes(k or b"") for k in RejectedEvent.objects.values_list("key", flat=True)) == [
        b"",
        ERASED.encode(),
    ]


# -- the race with a batch stored meanwhile ----------------------------------------------


@pytest.fixture
def held_erasure() -> Iterator[tuple[threading.Event, threading.Event]]:
    """An erasure can be held inside its transaction, after it deleted the player's row and
    before it commits: (reached, release)."""
    reached, release = threading.Event(), threading.Event()

    def hold(**kwargs) -> None:
        reached.set()
        assert release.wait(30)

    player_erasing.connect(hold, dispatch_uid="test-hold")
    yield reached, release
    release.set()
    player_erasing.disconnect(dispatch_uid="test-hold")


def in_thread(work) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_batch_with_the_players_cached_key_committing_during_the_erasure_is_retried(
    topic, held_erasure
):
    """The consumer holds the player's key from an earlier batch and stores replays while
    the erasure runs: its lock on the player's row waits for the erasure's commit, fails,
    and the consumer's retry looks the player up, finds the tombstone and drops them."""
    reached, release = held_erasure
    feed = Feed(topic)
    old = score(ERASED, 40, MOMENTS[1], event_id="e-1")
    known = feed(old, score("ann", 1, MOMENTS[1])).looked_up
    consumer = ScoreConsumer(topic=topic)
    consumer.player_pks = dict(known)
    erasing, erased = in_thread(lambda: player_erase(player_id=ERASED, actor=ACTOR))
    assert reached.wait(30)
    batch = feed.batch(old, score(ERASED, 2, MOMENTS[2]), score("ann", 1, MOMENTS[2]))

    storing, stored = in_thread(lambda: consumer._store_with_retry(batch))
    storing.join(1.5)
    assert storing.is_alive()  # its lock on the row waits for the erasure's commit
    release.set()
    erasing.join(30)
    storing.join(30)

    assert "error" not in erased, erased
    assert "error" not in stored, stored
    assert stored["result"].erased == 2
    assert len(stored["result"].new) == 1  # ann's
    assert ERASED not in consumer.player_pks
    assert not Player.objects.filter(external_id=ERASED).exists()
    assert list(ScoreDelta.objects.values_list("player__external_id", flat=True)) == ["ann"] * 2


def test_a_batch_creating_the_player_during_the_erasure_sees_the_tombstone(topic, held_erasure):
    """A batch that does not know the player inserts its row while the erasure holds the
    deleted one: the insert waits for the erasure's commit, then the tombstone, read by a
    later statement, drops the replays."""
    reached, release = held_erasure
    feed = Feed(topic)
    old = score(ERASED, 40, MOMENTS[1], event_id="e-1")
    feed(old)
    erasing, erased = in_thread(lambda: player_erase(player_id=ERASED, actor=ACTOR))
    assert reached.wait(30)
    batch = feed.batch(old, score(ERASED, 2, MOMENTS[2]))

    storing, stored = in_thread(lambda: store_batch(topic=topic, batch=batch))
    storing.join(1.5)
    assert storing.is_alive()  # the insert waits on the erasure's deleted row
    release.set()
    erasing.join(30)
    storing.join(30)

    assert "error" not in erased, erased
    assert "error" not in stored, stored
    assert stored["result"].erased == 2
    assert not Player.objects.filter(external_id=ERASED).exists()
    assert not ScoreDelta.objects.exists()


def test_a_batch_that_looked_the_player_up_before_the_erasure_is_retried(topic, monkeypatch):
    """A consumer with nothing cached looks the player up while the erasure holds the row
    but has deleted nothing yet: the batch's lock on the row waits, fails, and
    the consumer looks the player up again (once), then drops the replays."""
    from leaderboards import erasure

    reached, release = threading.Event(), threading.Event()
    real = erasure.deltas_erase

    def held(**kwargs):
        reached.set()
        assert release.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(erasure, "deltas_erase", held)
    feed = Feed(topic)
    old = score(ERASED, 40, MOMENTS[1], event_id="e-1")
    feed(old, score("ann", 1, MOMENTS[1]))
    consumer = ScoreConsumer(topic=topic)  # nothing cached
    erasing, erased = in_thread(lambda: player_erase(player_id=ERASED, actor=ACTOR))
    assert reached.wait(30)
    batch = feed.batch(score(ERASED, 2, MOMENTS[2]), score("ann", 1, MOMENTS[2]))

    storing, stored = in_thread(lambda: consumer._store_with_retry(batch))
    storing.join(1.5)
    assert storing.is_alive()  # its lock waits for the erasure's lock on the row
    release.set()
    erasing.join(30)
    storing.join(30)

    assert "error" not in erased, erased
    assert "error" not in stored, stored
    assert stored["result"].erased == 1
    assert not Player.objects.filter(external_id=ERASED).exists()
    assert list(ScoreDelta.objects.values_list("player__external_id", flat=True)) == ["ann"] * 2
