"""ingestion/batches.py: `decode_batch`, raw Kafka messages into events, rejections and the
offsets per partition the batch covers, without touching the database.

The messages are stand-ins with confluent-kafka's accessors; no broker is involved. No test
here asks for the database, so pytest-django would fail any that touched it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    TIMESTAMP_NOT_AVAILABLE,
)

from ingestion.batches import decode_batch
from ingestion.events import Limits, Reason, ScoreEvent
from leaderboards.windows import epoch_millis

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_abs_delta=1_000_000, max_clock_skew=timedelta(minutes=5))
TOPIC = "score-events"


@dataclass
class FakeMessage:
    """What decode_batch reads of a confluent_kafka.Message."""

    _value: bytes | None
    _partition: int = 0
    _offset: int = 0
    _key: bytes | None = None
    _timestamp: tuple[int, int] = (TIMESTAMP_NOT_AVAILABLE, 0)
    _error: object | None = None
    _topic: str = TOPIC

    def error(self):
        return self._error

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return self._topic

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp


def event(player_id: str = "p1", delta: int = 5, **fields) -> bytes:
    payload = {"player_id": player_id, "delta": delta, "created_at": "2026-11-22T11:00:00Z"}
    payload.update(fields)
    return msgspec.json.encode({k: v for k, v in payload.items() if v is not None})


def decode(*messages: FakeMessage):
    return decode_batch(messages, limits=LIMITS, now=NOW)


def test_a_valid_message_becomes_its_partition_and_event():
    batch = decode(FakeMessage(event("p1", 7, metric="kills"), _partition=3, _offset=10))

    assert batch.rejected == []
    [(partition, score_event)] = batch.events
    assert partition == 3
    assert isinstance(score_event, ScoreEvent)
    assert (score_event.player_id, score_event.metric, score_event.delta) == ("p1", "kills", 7)
    assert score_event.created_at == datetime(2026, 11, 22, 11, tzinfo=UTC)


def test_malformed_json_is_rejected_with_its_raw_bytes_and_position():
    raw = b'{"player_id": "p1", "delta": '
    batch = decode(FakeMessage(raw, _partition=2, _offset=41, _key=b"p1"))

    assert batch.events == []
    [rejected] = batch.rejected
    assert rejected.reason == Reason.MALFORMED_JSON
    assert rejected.raw == raw
    assert (rejected.topic, rejected.partition, rejected.offset, rejected.key) == (
        TOPIC,
        2,
        41,
        b"p1",
    )
    assert rejected.detail.startswith("not valid JSON")


def test_an_empty_or_absent_value_is_rejected_as_an_empty_message():
    batch = decode(FakeMessage(b"", _offset=0), FakeMessage(None, _offset=1))

    assert batch.events == []
    assert [(r.offset, r.reason, r.raw) for r in batch.rejected] == [
        (0, Reason.EMPTY_MESSAGE, b""),
        (1, Reason.EMPTY_MESSAGE, b""),
    ]
    # A rejected message is still read: the offsets move past it.
    assert batch.next_offsets == {0: 2}


def test_an_invalid_event_is_rejected_with_the_validation_reason():
    raw = event(delta="lots")
    batch = decode(FakeMessage(raw))

    [rejected] = batch.rejected
    assert (rejected.reason, rejected.raw) == (Reason.WRONG_TYPE, raw)
    assert "delta" in rejected.detail


def test_offsets_are_tracked_per_partition_first_seen_and_last_plus_one():
    batch = decode(
        FakeMessage(event("a"), _partition=0, _offset=5),
        FakeMessage(event("b"), _partition=1, _offset=100),
        FakeMessage(b"not json", _partition=0, _offset=6),
        FakeMessage(event("c"), _partition=0, _offset=7),
        FakeMessage(event("d"), _partition=1, _offset=101),
        FakeMessage(event("e"), _partition=2, _offset=0),
    )

    assert batch.first_offsets == {0: 5, 1: 100, 2: 0}
    assert batch.next_offsets == {0: 8, 1: 102, 2: 1}
    assert [(p, e.player_id) for p, e in batch.events] == [
        (0, "a"),
        (1, "b"),
        (0, "c"),
        (1, "d"),
        (2, "e"),
    ]


def test_out_of_order_offsets_keep_the_first_seen_and_the_last_seen_plus_one():
    batch = decode(
        FakeMessage(event("a"), _offset=9),
        FakeMessage(event("b"), _offset=4),
        FakeMessage(event("c"), _offset=12),
        FakeMessage(event("d"), _offset=6),
    )

    # Not min/max: the first message's offset, and one past the last message's.
    assert batch.first_offsets == {0: 9}
    assert batch.next_offsets == {0: 7}


def test_a_message_carrying_an_error_is_skipped_and_moves_no_offset():
    batch = decode(
        FakeMessage(None, _partition=0, _offset=3, _error="partition EOF"),
        FakeMessage(event("a"), _partition=1, _offset=20),
        FakeMessage(event("b"), _partition=1, _offset=21, _error="broker gone"),
    )

    assert [(p, e.player_id) for p, e in batch.events] == [(1, "a")]
    assert batch.rejected == []
    assert batch.first_offsets == {1: 20}
    assert batch.next_offsets == {1: 21}


def test_a_batch_of_only_errors_has_no_offsets():
    batch = decode(FakeMessage(None, _error="partition EOF"))

    assert (batch.events, batch.rejected, batch.next_offsets, batch.first_offsets) == (
        [],
        [],
        {},
        {},
    )


def test_an_event_without_created_at_takes_the_broker_create_time():
    broker_time = datetime(2026, 11, 22, 11, 30, 0, 250000, tzinfo=UTC)
    message = FakeMessage(
        event(created_at=None), _timestamp=(TIMESTAMP_CREATE_TIME, epoch_millis(broker_time))
    )

    [(_, score_event)] = decode(message).events

    assert score_event.created_at == broker_time


def test_an_event_without_created_at_takes_the_log_append_time_too():
    broker_time = datetime(2026, 11, 22, 11, 45, tzinfo=UTC)
    message = FakeMessage(
        event(created_at=None),
        _timestamp=(TIMESTAMP_LOG_APPEND_TIME, epoch_millis(broker_time)),
    )

    [(_, score_event)] = decode(message).events

    assert score_event.created_at == broker_time


def test_a_created_at_in_the_event_wins_over_the_broker_time():
    broker_time = datetime(2026, 11, 22, 11, 45, tzinfo=UTC)
    message = FakeMessage(event(), _timestamp=(TIMESTAMP_CREATE_TIME, epoch_millis(broker_time)))

    [(_, score_event)] = decode(message).events

    assert score_event.created_at == datetime(2026, 11, 22, 11, tzinfo=UTC)


def test_without_created_at_or_broker_time_the_event_is_rejected_not_stamped_now():
    # events.validate_event only falls back to the broker's timestamp; it never uses `now`.
    unavailable = FakeMessage(event(created_at=None), _timestamp=(TIMESTAMP_NOT_AVAILABLE, -1))
    zero = FakeMessage(event(created_at=None), _offset=1, _timestamp=(TIMESTAMP_CREATE_TIME, 0))

    batch = decode(unavailable, zero)

    assert batch.events == []
    assert [(r.offset, r.reason) for r in batch.rejected] == [
        (0, Reason.MISSING_FIELD),
        (1, Reason.MISSING_FIELD),
    ]
    assert all(r.detail == "created_at is required here" for r in batch.rejected)


def test_a_broker_time_too_far_ahead_of_now_is_rejected_as_a_future_timestamp():
    ahead = NOW + LIMITS.max_clock_skew + timedelta(seconds=1)
    message = FakeMessage(
        event(created_at=None), _timestamp=(TIMESTAMP_CREATE_TIME, epoch_millis(ahead))
    )

    [rejected] = decode(message).rejected

    assert rejected.reason == Reason.FUTURE_TIMESTAMP


def test_a_broker_time_past_year_9999_counts_as_none():
    # A producer sets CreateTime to any int64; this one is far past what datetime holds.
    stamped = FakeMessage(event(), _timestamp=(TIMESTAMP_CREATE_TIME, 2**63 - 1))
    unstamped = FakeMessage(event(created_at=None), _offset=1, _timestamp=stamped._timestamp)

    batch = decode(stamped, unstamped)

    assert [e.created_at for _, e in batch.events] == [datetime(2026, 11, 22, 11, tzinfo=UTC)]
    assert [(r.offset, r.reason) for r in batch.rejected] == [(1, Reason.MISSING_FIELD)]
