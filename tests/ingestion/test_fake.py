"""The fake traffic generator and `manage.py produce_fake_events`."""

from __future__ import annotations

import io
import re
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from django.core.management import call_command

from config.kafka import client_config
from ingestion.events import Limits, ScoreEvent, validate_event
from ingestion.fake import fake_display_name, fake_events, format_time

LIMITS = Limits(max_abs_delta=1_000_000_000, max_clock_skew=timedelta(minutes=5))
NOW = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
RFC3339_MS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_a_few_players_produce_most_events():
    events = list(fake_events(50_000, players=10_000, now=NOW, seed=1))

    per_player = Counter(player_id for player_id, _ in events)
    top_one_percent = sum(count for _, count in per_player.most_common(100))
    assert top_one_percent / len(events) > 0.4
    # ...and the long tail still shows up.
    assert len(per_player) > 3_000


def test_same_seed_gives_the_same_events():
    first = list(fake_events(500, players=1_000, now=NOW, seed=7))
    again = list(fake_events(500, players=1_000, now=NOW, seed=7))
    other = list(fake_events(500, players=1_000, now=NOW, seed=8))

    assert first == again
    assert first != other


def test_events_follow_the_contract():
    for player_id, event in fake_events(2_000, players=500, metric="kills", now=NOW, seed=3):
        result = validate_event(event, limits=LIMITS, now=NOW)

        assert isinstance(result, ScoreEvent), result
        assert result.player_id == player_id == event["player_id"]
        assert re.fullmatch(r"p\d+", player_id)
        assert result.metric == "kills"
        assert result.delta > 0
        assert event["created_at"] == "2026-11-22T12:00:00.123Z"
        assert uuid.UUID(event["event_id"]).version == 4


def test_deltas_are_mostly_small_with_occasional_big_ones():
    deltas = [event["delta"] for _, event in fake_events(20_000, players=100, now=NOW, seed=5)]

    assert statistics.median(deltas) <= 50
    assert max(deltas) > 500
    assert sum(delta > 500 for delta in deltas) < len(deltas) * 0.05


def test_events_without_a_fixed_time_carry_the_clock():
    before = datetime.now(UTC) - timedelta(seconds=1)
    (_, event), *_ = fake_events(1, players=10)

    assert RFC3339_MS_UTC.fullmatch(event["created_at"])
    stamped = datetime.fromisoformat(event["created_at"])
    assert before <= stamped <= datetime.now(UTC)


def test_format_time_is_utc_with_milliseconds():
    tokyo = NOW.astimezone(datetime.now().astimezone().tzinfo)
    assert format_time(tokyo) == "2026-11-22T12:00:00.123Z"


def test_produce_fake_events_lands_paced_events_in_kafka(topic):
    out = io.StringIO()

    call_command(
        "produce_fake_events", "--rate", "200", "--duration", "1.5", "--players", "50", stdout=out
    )

    match = re.search(
        r"done: (\d+) events sent .*, (\d+) delivery errors, (\d+) undelivered", out.getvalue()
    )
    assert match, out.getvalue()
    sent, errors, undelivered = map(int, match.groups())
    assert (errors, undelivered) == (0, 0)
    assert 200 <= sent <= 400  # 200/s for 1.5 s
    messages = _read_all(topic, expected=sent)
    assert len(messages) == sent
    for message in messages:
        assert message.key().decode().startswith("p")


def _read_all(topic: str, *, expected: int, timeout: float = 20) -> list:
    """Every message on the topic, read from the start of each partition (no group)."""
    consumer = Consumer(client_config(**{"group.id": "unused", "enable.auto.commit": False}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(1000, 0.5) if m.error() is None]
        # Anything beyond what the command reported would be a bug too.
        messages += [m for m in consumer.consume(1000, 1.0) if m.error() is None]
    finally:
        consumer.close()
    return messages


def test_players_get_plausible_names_first_and_now_and_then_after():
    events = list(fake_events(20_000, players=200, now=NOW, seed=7))

    first_seen = {}
    for player_id, event in events:
        first_seen.setdefault(player_id, event)
    assert all(e["display_name"] == fake_display_name(p) for p, e in first_seen.items())
    named = [e for _, e in events if "display_name" in e]
    assert len(first_seen) < len(named) < len(first_seen) + len(events) // 20
    assert fake_display_name("p17") == fake_display_name("p17")
    assert re.fullmatch(r"[A-Z][a-z]+[A-Z][a-z]+\d{1,2}", fake_display_name("p12345"))
    assert len({fake_display_name(f"p{n}") for n in range(1, 401)}) == 400
