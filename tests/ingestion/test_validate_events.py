"""ingestion/events.py: `validate_events`, the check of one HTTP request's events by the
consumer's rules before they are produced to Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingestion.events import (
    MAX_EVENT_BYTES,
    CheckedEvents,
    EventError,
    Limits,
    Reason,
    ingest_limits,
    validate_events,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_abs_delta=1_000, max_clock_skew=timedelta(minutes=5))


def check(payloads) -> CheckedEvents:
    return validate_events(payloads, limits=LIMITS, now=NOW)


def test_valid_events_are_all_accepted_in_order_as_sent():
    payloads = [
        {"player_id": "p2", "delta": 5, "created_at": "2026-11-22T11:00:00Z"},
        {"playerId": "p1", "delta": -3, "metric": "kills", "event_id": "e-1"},
        {"player_id": "p3", "delta": 0, "created_at": 1_795_000_000_000},
    ]

    checked = check(payloads)

    assert checked.errors == []
    # The payloads themselves, unchanged (aliases kept), with the player id they name.
    assert checked.accepted == [("p2", payloads[0]), ("p1", payloads[1]), ("p3", payloads[2])]


def test_each_invalid_event_is_reported_by_index_and_the_valid_ones_still_accepted():
    payloads = [
        {"player_id": "ok-1", "delta": 1},
        {"delta": 1},
        "not an object",
        {"player_id": "ok-2", "delta": 2},
        {"player_id": "p", "delta": 1_001},
        {"player_id": "p", "delta": 1, "created_at": "2026-11-22T12:06:00Z"},
    ]

    checked = check(payloads)

    assert checked.accepted == [("ok-1", payloads[0]), ("ok-2", payloads[3])]
    assert [(e.index, e.reason) for e in checked.errors] == [
        (1, Reason.MISSING_FIELD),
        (2, Reason.NOT_AN_OBJECT),
        (4, Reason.ABSURD_DELTA),
        (5, Reason.FUTURE_TIMESTAMP),
    ]
    assert checked.errors[0] == EventError(1, Reason.MISSING_FIELD, "player_id is required")
    assert checked.errors[1].detail == "expected a JSON object, got a string"
    assert "1001" in checked.errors[2].detail


def test_an_event_larger_than_the_produce_limit_is_too_long():
    padding = "x" * MAX_EVENT_BYTES
    payloads = [{"player_id": "p1", "delta": 1, "note": padding}, {"player_id": "p2", "delta": 1}]

    checked = check(payloads)

    assert checked.accepted == [("p2", payloads[1])]
    [error] = checked.errors
    assert (error.index, error.reason) == (0, Reason.TOO_LONG)
    assert f"at most {MAX_EVENT_BYTES}" in error.detail


def test_an_event_of_exactly_the_size_limit_is_accepted_one_byte_more_is_not():
    overhead = len('{"player_id":"p1","delta":1,"note":""}')
    exact = {"player_id": "p1", "delta": 1, "note": "x" * (MAX_EVENT_BYTES - overhead)}
    over = {"player_id": "p1", "delta": 1, "note": "x" * (MAX_EVENT_BYTES - overhead + 1)}

    checked = check([exact, over])

    assert checked.accepted == [("p1", exact)]
    assert [(e.index, e.reason) for e in checked.errors] == [(1, Reason.TOO_LONG)]
    assert checked.errors[0].detail.startswith(f"event is {MAX_EVENT_BYTES + 1} bytes")


def test_an_absent_created_at_is_accepted_as_now():
    checked = check(
        [{"player_id": "p1", "delta": 1}, {"player_id": "p2", "delta": 1, "created_at": None}]
    )

    assert [player for player, _ in checked.accepted] == ["p1", "p2"]
    assert checked.errors == []


def test_the_configured_limits_apply(settings):
    settings.INGEST_MAX_ABS_DELTA = 10

    checked = validate_events(
        [{"player_id": "p1", "delta": 10}, {"player_id": "p1", "delta": 11}],
        limits=ingest_limits(),
        now=NOW,
    )

    assert [player for player, _ in checked.accepted] == ["p1"]
    assert [(e.index, e.reason) for e in checked.errors] == [(1, Reason.ABSURD_DELTA)]


def test_no_events_give_nothing_accepted_and_no_errors():
    assert check([]) == CheckedEvents(accepted=[], errors=[])


def test_an_event_that_cannot_be_sent_as_utf8_json_is_invalid_not_an_error():
    # Valid by the contract, but a field it ignores holds what JSON text cannot carry to
    # Kafka: a lone surrogate (Python's json module lets "\\ud800" through), or nesting
    # deeper than the encoder goes.
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    payloads = [
        {"player_id": "p1", "delta": 1, "note": "\ud800"},
        {"player_id": "p2", "delta": 1, "note": deep},
        {"player_id": "p3", "delta": 1},
    ]

    checked = check(payloads)

    assert [(e.index, e.reason) for e in checked.errors] == [
        (0, Reason.INVALID_VALUE),
        (1, Reason.INVALID_VALUE),
    ]
    assert all(e.detail.startswith("event cannot be sent as UTF-8 JSON") for e in checked.errors)
    assert [player for player, _ in checked.accepted] == ["p3"]
