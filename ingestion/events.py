"""The score event contract: decoding and validating what producers send.

A message either becomes a `ScoreEvent` or a `Rejection` with a reason; decoding and
validation never raise, whatever the bytes (any depth, size, encoding or type), so one bad
message cannot unwind a batch. The same rules serve the Kafka consumer
and the HTTP write endpoint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from typing import Any

import msgspec
from django.conf import settings

from leaderboards.models import METRIC_MAX_LENGTH, METRIC_PATTERN
from leaderboards.windows import EPOCH, epoch_millis
from players.models import PLAYER_ID_MAX_LENGTH
from players.profiles import DISPLAY_NAME_MAX_LENGTH, display_name_problem

DEFAULT_METRIC = "score"
EVENT_ID_MAX_LENGTH = 128
# Far above any real event, far below Kafka's message size limit: an event this big is a
# producer bug, refused up front (over HTTP before it is produced, from Kafka before it is
# decoded, so a 10 MB value costs no parse).
MAX_EVENT_BYTES = 64 * 1024
# Anything stamped before this is a unit mistake (seconds sent as milliseconds) or junk.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)

# Canonical field name first, then the aliases older producers send.
FIELD_ALIASES = {
    "player_id": ("player_id", "playerId"),
    "created_at": ("created_at", "createdAt", "timestamp"),
    "event_id": ("event_id", "eventId"),
    "display_name": ("display_name", "displayName"),
}


class Reason:
    """Rejection reasons: short, stable codes for metrics, filters and alerts."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    ABSURD_DELTA = "absurd_delta"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_LONG = "too_long"
    EMPTY_MESSAGE = "empty_message"
    # Not the event's fault as far as we know: processing it raised, every time it was tried.
    CONSUMER_ERROR = "consumer_error"


class ScoreEvent(msgspec.Struct, frozen=True, gc=False):
    """An accepted event. A msgspec Struct, not a dataclass: one is made per event, and a
    frozen dataclass's __init__ costs ten times as much (2 µs)."""

    player_id: str
    metric: str
    delta: int
    created_at: datetime
    event_id: str | None
    dedupe_key: uuid.UUID
    # Sets the player's name, unless a name from a later event (or the API) is stored.
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_abs_delta: int
    max_clock_skew: timedelta


def ingest_limits() -> Limits:
    """The limits configured in settings (INGEST_MAX_ABS_DELTA, INGEST_MAX_CLOCK_SKEW_SECONDS)."""
    return Limits(
        max_abs_delta=settings.INGEST_MAX_ABS_DELTA,
        max_clock_skew=timedelta(seconds=settings.INGEST_MAX_CLOCK_SKEW_SECONDS),
    )


_decoder = msgspec.json.Decoder()


# A time, or what gives it: read only for an event without created_at.
FallbackTime = datetime | Callable[[], datetime | None] | None


def decode_event(
    raw: bytes | str, *, limits: Limits, now: datetime, fallback_time: FallbackTime = None
) -> ScoreEvent | Rejection:
    """Decode one message value. `fallback_time` (the broker's timestamp) stands in for an
    absent `created_at`."""
    if len(raw) > MAX_EVENT_BYTES:
        return Rejection(Reason.TOO_LONG, f"message is {len(raw)} bytes, at most {MAX_EVENT_BYTES}")
    try:
        wire = _wire_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        wire = None  # not the usual event: the general way below says what is wrong
    if wire is not None and not wire.names_an_alias():
        return _checked(
            wire.player_id,
            wire.delta,
            wire.metric,
            wire.event_id,
            wire.display_name,
            wire.created_at,
            limits=limits,
            now=now,
            fallback_time=fallback_time,
        )
    try:
        payload = _decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Rejection(Reason.MALFORMED_JSON, f"not valid JSON: {exc}")
    except RecursionError:
        # msgspec stops at Python's recursion limit; 64 KB of "[" gets far past it.
        return Rejection(Reason.MALFORMED_JSON, "not valid JSON: nested too deeply")
    return validate_event(payload, limits=limits, now=now, fallback_time=fallback_time)


class _WireEvent(msgspec.Struct):
    """The usual message, decoded straight into its fields rather than into a dict that
    `_field` then searches (docs/benchmarks.md#ingestion). Anything else (a field of another
    type, null where a string goes, an alias) fails here or names an alias, and the message
    goes the general way: both ways take the same fields to `_checked`."""

    player_id: str
    delta: int
    metric: str | None = None
    event_id: str | None = None
    display_name: str | None = None
    created_at: str | int | None = None
    # The aliases, left undecoded: a message naming one takes `_field`'s order.
    playerId: msgspec.Raw = msgspec.Raw()
    createdAt: msgspec.Raw = msgspec.Raw()
    timestamp: msgspec.Raw = msgspec.Raw()
    eventId: msgspec.Raw = msgspec.Raw()
    displayName: msgspec.Raw = msgspec.Raw()

    def names_an_alias(self) -> bool:
        return bool(
            self.playerId or self.createdAt or self.timestamp or self.eventId or self.displayName
        )


_wire_decoder = msgspec.json.Decoder(_WireEvent)


@dataclass(frozen=True, slots=True)
class EventError:
    """What is wrong with the event at `index` of a request."""

    index: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class CheckedEvents:
    accepted: list[tuple[str, Any]]  # (player_id, payload) of each valid event, in order
    errors: list[EventError]


_encoder = msgspec.json.Encoder()


def validate_events(payloads: Sequence[Any], *, limits: Limits, now: datetime) -> CheckedEvents:
    """Check the events of one HTTP request by the consumer's rules, an absent
    `created_at` meaning `now`; an event too large to produce is invalid too."""
    accepted, errors = [], []
    for index, payload in enumerate(payloads):
        result = validate_event(payload, limits=limits, now=now, fallback_time=now)
        if isinstance(result, ScoreEvent):
            result = _unproducible(payload) or result
        if isinstance(result, Rejection):
            errors.append(EventError(index, result.reason, result.detail))
        else:
            accepted.append((result.player_id, payload))
    return CheckedEvents(accepted, errors)


def _unproducible(payload: dict) -> Rejection | None:
    """A rejection when a valid event cannot go to Kafka as it is: too big, or holding (in
    a field the contract ignores) what UTF-8 JSON cannot carry or nesting too deep."""
    try:
        size = len(_encoder.encode(payload))
    except (UnicodeEncodeError, RecursionError, OverflowError, TypeError, ValueError) as exc:
        return Rejection(Reason.INVALID_VALUE, f"event cannot be sent as UTF-8 JSON: {exc}")
    if size > MAX_EVENT_BYTES:
        return Rejection(
            Reason.TOO_LONG, f"event is {size} bytes as JSON, at most {MAX_EVENT_BYTES}"
        )
    return None


def validate_event(
    payload: Any, *, limits: Limits, now: datetime, fallback_time: FallbackTime = None
) -> ScoreEvent | Rejection:
    """Check a decoded event: its fields, types and ranges, as the API's ScoreEvent
    schema documents them for producers."""
    if not isinstance(payload, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {_kind(payload)}")
    return _checked(
        _field(payload, "player_id"),
        payload.get("delta"),
        payload.get("metric"),
        _field(payload, "event_id"),
        _field(payload, "display_name"),
        _field(payload, "created_at"),
        limits=limits,
        now=now,
        fallback_time=fallback_time,
    )


def _checked(
    player_id: Any,
    delta: Any,
    metric: Any,
    event_id: Any,
    display_name: Any,
    created_at: Any,
    *,
    limits: Limits,
    now: datetime,
    fallback_time: FallbackTime,
) -> ScoreEvent | Rejection:
    """The event's fields checked, each None when absent (or null), in the order that
    decides which of several problems a rejection names."""
    if player_id is None:
        return Rejection(Reason.MISSING_FIELD, "player_id is required")
    if not isinstance(player_id, str):
        return Rejection(Reason.WRONG_TYPE, f"player_id must be a string, got {_kind(player_id)}")
    if not player_id or player_id.isspace():
        return Rejection(Reason.INVALID_VALUE, "player_id must not be empty")
    if not _storable(player_id):
        return Rejection(Reason.INVALID_VALUE, "player_id holds NUL or unpaired surrogates")
    if len(player_id) > PLAYER_ID_MAX_LENGTH:
        return Rejection(
            Reason.TOO_LONG, f"player_id is {len(player_id)} chars, at most {PLAYER_ID_MAX_LENGTH}"
        )

    if delta is None:
        return Rejection(Reason.MISSING_FIELD, "delta is required")
    if not isinstance(delta, int) or isinstance(delta, bool):
        return Rejection(Reason.WRONG_TYPE, f"delta must be an integer, got {_kind(delta)}")
    if abs(delta) > limits.max_abs_delta:
        return Rejection(Reason.ABSURD_DELTA, f"delta {delta} is beyond ±{limits.max_abs_delta}")

    if metric is None:
        metric = DEFAULT_METRIC
    if not isinstance(metric, str):
        return Rejection(Reason.WRONG_TYPE, f"metric must be a string, got {_kind(metric)}")
    if len(metric) > METRIC_MAX_LENGTH:
        return Rejection(
            Reason.TOO_LONG, f"metric is {len(metric)} chars, at most {METRIC_MAX_LENGTH}"
        )
    if not METRIC_PATTERN.fullmatch(metric):
        return Rejection(Reason.INVALID_VALUE, "metric may hold only letters, digits and _ . : -")

    if event_id is not None:
        if not isinstance(event_id, str):
            return Rejection(Reason.WRONG_TYPE, f"event_id must be a string, got {_kind(event_id)}")
        if not event_id or not _storable(event_id):
            return Rejection(Reason.INVALID_VALUE, "event_id is empty or holds NUL/surrogates")
        if len(event_id) > EVENT_ID_MAX_LENGTH:
            return Rejection(
                Reason.TOO_LONG, f"event_id is {len(event_id)} chars, at most {EVENT_ID_MAX_LENGTH}"
            )

    if display_name is not None:
        if not isinstance(display_name, str):
            return Rejection(
                Reason.WRONG_TYPE, f"display_name must be a string, got {_kind(display_name)}"
            )
        display_name = display_name.strip()
        if problem := display_name_problem(display_name):
            too_long = len(display_name) > DISPLAY_NAME_MAX_LENGTH
            return Rejection(
                Reason.TOO_LONG if too_long else Reason.INVALID_VALUE, f"display_name {problem}"
            )

    if created_at is None:
        fallback = fallback_time() if callable(fallback_time) else fallback_time
        if fallback is None:
            return Rejection(Reason.MISSING_FIELD, "created_at is required here")
        when = fallback
    else:
        when = _parse_time(created_at)
        if isinstance(when, Rejection):
            return when
    if when.microsecond % 1000:  # a millisecond timestamp (the usual one) is kept as it is
        when -= timedelta(microseconds=when.microsecond % 1000)
    if when > now + limits.max_clock_skew:
        return Rejection(
            Reason.FUTURE_TIMESTAMP,
            f"created_at {when.isoformat()} is more than "
            f"{int(limits.max_clock_skew.total_seconds())}s ahead of the server clock",
        )
    if when < EARLIEST_EVENT_TIME:
        return Rejection(Reason.INVALID_VALUE, f"created_at {when.isoformat()} is before 2000")

    return ScoreEvent(
        player_id=player_id,
        metric=metric,
        delta=delta,
        created_at=when,
        event_id=event_id,
        dedupe_key=dedupe_key(event_id, player_id, metric, when),
        display_name=display_name,
    )


def dedupe_key(
    event_id: str | None, player_id: str, metric: str, created_at: datetime
) -> uuid.UUID:
    """The event's identity: its event_id, else player + metric + millisecond timestamp,
    hashed to 128 bits (BLAKE2b: a few times cheaper than uuid5's SHA-1 at this volume)."""
    if event_id is not None:
        identity = "id\x1f" + event_id
    else:
        identity = f"pmt\x1f{player_id}\x1f{metric}\x1f{epoch_millis(created_at)}"
    return uuid.UUID(bytes=blake2b(identity.encode(), digest_size=16).digest())


def _storable(text: str) -> bool:
    """PostgreSQL text takes neither NUL nor the lone surrogates JSON can smuggle in."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _field(payload: dict, name: str) -> Any:
    for alias in FIELD_ALIASES[name]:
        value = payload.get(alias)
        if value is not None:
            return value
    return None


def _parse_time(value: Any) -> datetime | Rejection:
    if isinstance(value, bool):
        return Rejection(Reason.WRONG_TYPE, "created_at must be an RFC 3339 string or epoch ms")
    if isinstance(value, int):
        try:
            return EPOCH + timedelta(milliseconds=value)  # exact, unlike value / 1000
        except (OverflowError, OSError, ValueError):
            return Rejection(Reason.INVALID_VALUE, f"created_at {value} is not a valid epoch ms")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return Rejection(
                Reason.INVALID_VALUE, f"created_at {value[:40]!r} is not an RFC 3339 timestamp"
            )
        if parsed.tzinfo is None:
            return Rejection(
                Reason.INVALID_VALUE, f"created_at {value[:40]!r} carries no time zone offset"
            )
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # "0001-01-01T00:00:00+01:00" is in no UTC year
            return Rejection(Reason.INVALID_VALUE, f"created_at {value[:40]!r} is out of range")
    return Rejection(
        Reason.WRONG_TYPE,
        f"created_at must be an RFC 3339 string or epoch ms, got {_kind(value)}",
    )


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
