from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.events import (
    Limits,
    Reason,
    Rejection,
    ScoreEvent,
    decode_event,
    dedupe_key,
    validate_event,
)
from leaderboards.windows import epoch_millis

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_abs_delta=1_000_000, max_clock_skew=timedelta(minutes=5))


def decode(payload, fallback_time=None):
    raw = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return decode_event(raw, limits=LIMITS, now=NOW, fallback_time=fallback_time)


def test_a_full_event_is_accepted_with_millisecond_precision():
    event = decode(
        {
            "event_id": "e-1",
            "player_id": "p123",
            "delta": 50,
            "metric": "kills",
            "created_at": "2026-11-22T11:00:00.123456Z",
        }
    )
    assert isinstance(event, ScoreEvent)
    assert event.player_id == "p123"
    assert event.metric == "kills"
    assert event.delta == 50
    assert event.created_at == datetime(2026, 11, 22, 11, 0, 0, 123000, tzinfo=UTC)
    assert event.event_id == "e-1"


def test_metric_defaults_to_score_and_epoch_milliseconds_are_accepted():
    event = decode({"player_id": "p1", "delta": -3, "created_at": 1_795_000_000_123})
    assert isinstance(event, ScoreEvent)
    assert event.metric == "score"
    assert event.created_at == datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC)


def test_seed_aliases_are_accepted_and_new_score_is_ignored():
    event = decode(
        {
            "playerId": "p9",
            "delta": 5,
            "newScore": 1500,
            "timestamp": "2026-11-22T10:00:00Z",
            "eventId": "abc",
        }
    )
    assert isinstance(event, ScoreEvent)
    assert (event.player_id, event.event_id) == ("p9", "abc")
    assert event.created_at == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert decode(
        {"playerId": "p9", "delta": 5, "createdAt": "2026-11-22T10:00:00+02:00"}
    ).created_at == datetime(2026, 11, 22, 8, tzinfo=UTC)


def test_absent_created_at_takes_the_broker_timestamp():
    broker = datetime(2026, 11, 22, 11, 59, tzinfo=UTC)
    event = decode({"player_id": "p1", "delta": 1}, fallback_time=broker)
    assert event.created_at == broker


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"\xff\xfe", Reason.MALFORMED_JSON),
        ([1, 2], Reason.NOT_AN_OBJECT),
        ({"delta": 1}, Reason.MISSING_FIELD),
        ({"player_id": "p1"}, Reason.MISSING_FIELD),
        ({"player_id": 12, "delta": 1}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": "10"}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": 1.5}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": True}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": 10**12}, Reason.ABSURD_DELTA),
        ({"player_id": "", "delta": 1}, Reason.INVALID_VALUE),
        ({"player_id": "p\x00", "delta": 1}, Reason.INVALID_VALUE),
        ({"player_id": "p" * 65, "delta": 1}, Reason.TOO_LONG),
        ({"player_id": "p1", "delta": 1, "metric": "m" * 65}, Reason.TOO_LONG),
        ({"player_id": "p1", "delta": 1, "metric": "with space"}, Reason.INVALID_VALUE),
        ({"player_id": "p1", "delta": 1, "metric": 7}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": 1, "event_id": 7}, Reason.WRONG_TYPE),
        ({"player_id": "p1", "delta": 1, "event_id": "e" * 129}, Reason.TOO_LONG),
        ({"player_id": "p1", "delta": 1, "created_at": "yesterday"}, Reason.INVALID_VALUE),
        (
            {"player_id": "p1", "delta": 1, "created_at": "2026-11-22T10:00:00"},
            Reason.INVALID_VALUE,
        ),
        (
            {"player_id": "p1", "delta": 1, "created_at": "2026-11-22T12:06:00Z"},
            Reason.FUTURE_TIMESTAMP,
        ),
        ({"player_id": "p1", "delta": 1, "created_at": 1_700_000_000}, Reason.INVALID_VALUE),
        ({"player_id": "p1", "delta": 1, "created_at": [1]}, Reason.WRONG_TYPE),
        # What once raised instead: nesting past the recursion limit, a time zone offset that
        # takes the date out of range, and a value too big to be worth parsing.
        (b"[" * 1_000 + b"]" * 1_000, Reason.MALFORMED_JSON),
        (
            b'{"player_id": "p1", "delta": 1, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
            Reason.MALFORMED_JSON,
        ),
        (
            {"player_id": "p1", "delta": 1, "created_at": "0001-01-01T00:00:00+01:00"},
            Reason.INVALID_VALUE,
        ),
        (
            {"player_id": "p1", "delta": 1, "created_at": "9999-12-31T23:59:59-01:00"},
            Reason.INVALID_VALUE,
        ),
        ({"player_id": "p1", "delta": 1, "pad": "x" * 10_000_000}, Reason.TOO_LONG),
    ],
)
def test_bad_events_are_rejected_with_a_reason(payload, reason):
    result = decode(payload, fallback_time=NOW)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail


# 30,000 deep: under the 64 KB a value may take, so it is parsed, not refused as too long.
@pytest.mark.parametrize("depth", [1_000, 30_000])
def test_a_deeply_nested_message_is_rejected_rather_than_raising(depth):
    result = decode(b"[" * depth + b"]" * depth)

    assert result == Rejection(Reason.MALFORMED_JSON, "not valid JSON: nested too deeply")


def test_created_at_is_required_when_no_broker_timestamp_exists():
    result = decode({"player_id": "p1", "delta": 1})
    assert isinstance(result, Rejection)
    assert result.reason == Reason.MISSING_FIELD


def test_dedupe_key_follows_event_id_else_player_metric_and_time():
    at = datetime(2026, 11, 22, 10, 0, 0, 5000, tzinfo=UTC)
    assert dedupe_key("e1", "p1", "score", at) == dedupe_key("e1", "p2", "kills", NOW)
    assert dedupe_key(None, "p1", "score", at) == dedupe_key(None, "p1", "score", at)
    assert dedupe_key(None, "p1", "score", at) != dedupe_key(None, "p1", "kills", at)
    assert dedupe_key(None, "p1", "score", at) != dedupe_key(
        None, "p1", "score", at + timedelta(milliseconds=1)
    )
    assert dedupe_key("e1", "p1", "score", at) != dedupe_key(None, "p1", "score", at)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "player_id",
                        "playerId",
                        "delta",
                        "metric",
                        "created_at",
                        "timestamp",
                        "event_id",
                    ]
                )
                | st.text(max_size=5),
                children,
                max_size=6,
            )
        ),
        max_leaves=12,
    )
)
def test_validation_never_raises_whatever_arrives(payload):
    result = validate_event(payload, limits=LIMITS, now=NOW, fallback_time=NOW)
    assert isinstance(result, ScoreEvent | Rejection)


@given(
    player_id=st.text(min_size=1, max_size=64).filter(
        lambda s: not s.isspace() and "\x00" not in s
    ),
    delta=st.integers(-1_000_000, 1_000_000),
    millis=st.integers(946_684_800_000, 1_795_000_000_000),
)
def test_every_contract_conforming_event_is_accepted(player_id, delta, millis):
    result = validate_event(
        {"player_id": player_id, "delta": delta, "created_at": millis},
        limits=LIMITS,
        now=NOW,
    )
    assert isinstance(result, ScoreEvent)
    assert result.delta == delta
    assert epoch_millis(result.created_at) == millis


def _general_way(raw: bytes):
    """What a message decodes to through a dict and validate_event, the way every message
    took before the typed decode (and every unusual one still takes)."""
    try:
        payload = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return Reason.MALFORMED_JSON
    return validate_event(payload, limits=LIMITS, now=NOW, fallback_time=NOW)


_any_value = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_field_values = {
    "player_id": st.sampled_from(["p1", "", " ", "a\x00b", "x" * 200]) | _any_value,
    "playerId": st.sampled_from(["p2"]) | _any_value,
    "delta": st.integers(-2_000_000, 2_000_000) | st.integers() | _any_value,
    "metric": st.sampled_from(["score", "kills", "bad metric", "m" * 300]) | _any_value,
    "created_at": st.sampled_from(
        [
            "2026-11-22T11:00:00.123456Z",
            "2026-11-22 11:00:00+02:00",
            "2026-11-22T11:00:00",
            "1999-01-01T00:00:00Z",
            "2026-11-22T13:00:00Z",
        ]
    )
    | st.integers(0, 2_000_000_000_000)
    | _any_value,
    "createdAt": st.sampled_from([1_795_000_000_000]) | _any_value,
    "timestamp": st.sampled_from(["2026-11-22T10:00:00Z"]) | _any_value,
    "event_id": st.sampled_from(["e-1", "", "x" * 200]) | _any_value,
    "eventId": st.sampled_from(["e-2"]) | _any_value,
    "display_name": st.sampled_from(["Ann", "  Bo  ", "\x07", "n" * 100]) | _any_value,
    "displayName": st.sampled_from(["Cy"]) | _any_value,
    "other": _any_value,
}
# Members in any order, some repeated (the last one counts, in both ways), most of them
# making the usual event so that the typed decode takes them.
_members = st.lists(
    st.sampled_from(list(_field_values)).flatmap(
        lambda name: _field_values[name].map(lambda value: (name, msgspec.json.encode(value)))
    )
    # Nested around Python's recursion limit: both ways refuse it, or neither.
    | st.integers(900, 3_000).map(lambda n: ("other", b"[" * n + b"]" * n)),
    max_size=9,
)


@given(
    usual=st.fixed_dictionaries(
        {"player_id": st.just("p1"), "delta": st.integers(-5, 5)},
        optional={"created_at": st.just("2026-11-22T11:00:00Z"), "event_id": st.just("e")},
    ),
    members=_members,
)
def test_a_message_decodes_as_its_dict_validates(usual, members):
    pairs = [(name, msgspec.json.encode(value)) for name, value in usual.items()] + members
    raw = b"{" + b",".join(msgspec.json.encode(name) + b":" + value for name, value in pairs) + b"}"

    result = decode(raw, fallback_time=NOW)

    expected = _general_way(raw)
    if expected == Reason.MALFORMED_JSON:
        assert isinstance(result, Rejection)
        assert result.reason == expected
    else:
        assert result == expected
