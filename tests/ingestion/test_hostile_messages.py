"""Hostile messages through the real broker and a real `manage.py consume_scores`: deep
nesting, huge numbers, invalid UTF-8, NUL, lone surrogates, a 10 MB value, wrong types at
every field, odd keys and headers, interleaved with good events. The one consumer process
lives through every example: it is still consuming at the end, every good event counts
exactly once, and every bad message is a rejected event with a reason."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ingestion.events import MAX_EVENT_BYTES, Reason
from ingestion.kafka import ensure_topic, make_producer
from ingestion.models import RejectedEvent
from tests.ingestion.kafka_helpers import consumer_process, stop, stored_totals, wait_for
from tests.ingestion.test_fuzz_events import REASONS, json_values

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

AT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
TEN_MB = 10 * 1024 * 1024


def event(**fields) -> dict:
    return {"player_id": "h", "delta": 1, "created_at": AT, **fields}


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# Each of these is invalid by construction, whatever is drawn.
deep = st.integers(2_000, 30_000).map(lambda n: b"[" * n + b"]" * n)
deep_in_a_field = st.integers(2_000, 25_000).map(
    lambda n: b'{"player_id": "h", "delta": 1, "x": ' + b"[" * n + b"]" * n + b"}"
)
huge_number = st.sampled_from(["delta", "created_at"]).flatmap(
    lambda field: st.integers(20, 20_000).map(
        lambda digits: (
            raw(f'{{"player_id": "h", "{field}": 1{"9" * digits}, "delta": 1}}')
            if field == "created_at"
            else raw(f'{{"player_id": "h", "delta": 1{"9" * digits}}}')
        )
    )
)
not_finite = st.sampled_from([b"1e999", b"-1e999", b"NaN", b"Infinity"]).map(
    lambda number: b'{"player_id": "h", "delta": ' + number + b"}"
)
invalid_utf8 = st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"]).map(
    lambda junk: b'{"player_id": "h' + junk + b'", "delta": 1}'
)
nul = st.sampled_from(
    [
        b'{"player_id": "h\x00", "delta": 1}',  # a raw NUL: not JSON
        json.dumps(event(player_id="h\x00")).encode(),  # \u0000: JSON, not PostgreSQL text
        json.dumps(event(event_id="e\x00")).encode(),
        json.dumps(event(display_name="Ada\x00")).encode(),
    ]
)
lone_surrogate = st.sampled_from(["player_id", "event_id", "display_name", "metric"]).map(
    lambda field: json.dumps(event(**{field: "a\ud800"})).encode()
)
invisible_name = st.sampled_from(["\u200b", "\u202e", "\u2066", "\ufeff"]).map(
    lambda char: json.dumps(event(display_name=f"Ada{char}")).encode()
)
out_of_range_time = st.sampled_from(
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2999-01-01T00:00:00Z"]
).map(lambda when: json.dumps(event(created_at=when)).encode())
WRONG = {
    "player_id": json_values.filter(lambda v: v is not None and not isinstance(v, str)),
    "delta": json_values.filter(lambda v: v is not None and type(v) is not int),
    "metric": json_values.filter(lambda v: v is not None and not isinstance(v, str)),
    "created_at": json_values.filter(
        lambda v: v is not None and not isinstance(v, str) and type(v) is not int
    ),
    "event_id": json_values.filter(lambda v: v is not None and not isinstance(v, str)),
    "display_name": json_values.filter(lambda v: v is not None and not isinstance(v, str)),
}
wrong_type = st.sampled_from(sorted(WRONG)).flatmap(
    lambda field: WRONG[field].map(lambda value: msgspec.json.encode(event(**{field: value})))
)
not_an_event = st.binary(max_size=200).filter(lambda b: not b.lstrip().startswith(b"{"))
bad_values = st.one_of(
    deep,
    deep_in_a_field,
    huge_number,
    not_finite,
    invalid_utf8,
    nul,
    lone_surrogate,
    invisible_name,
    out_of_range_time,
    wrong_type,
    not_an_event,
    st.just(b""),
)
keys = st.none() | st.binary(max_size=40) | st.just(b"\x00\xff" * 600)
headers = st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=40)), max_size=3)
bad_messages = st.tuples(keys, bad_values, headers)


@pytest.fixture
def live_consumer(topic, tmp_path):
    ensure_topic(topic=topic)
    log = tmp_path / "consumer.log"
    process = consumer_process(
        topic, f"group-{topic}", stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    yield process, log
    assert stop(process) == 0, log.read_text()[-3000:]


def send(topic: str, messages) -> None:
    """Produce (key, value, headers) with a producer that takes values over librdkafka's
    1 MB default; the embedded broker (Tansu) takes 10 MB."""
    producer = make_producer(
        **{"linger.ms": 5, "enable.idempotence": False, "message.max.bytes": 20_000_000}
    )
    errors = []
    for key, value, message_headers in messages:
        producer.produce(
            topic,
            value,
            key=key,
            headers=message_headers,
            on_delivery=lambda err, _msg: err and errors.append(err),
        )
    assert producer.flush(60) == 0
    assert errors == [], errors


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking would rerun Kafka
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(
    bad=st.lists(bad_messages, min_size=10, max_size=40),
    good_count=st.integers(10, 60),
    order=st.randoms(use_true_random=False),
)
def test_hostile_messages_never_stop_the_consumer_or_lose_a_good_event(
    topic, live_consumer, bad, good_count, order
):
    process, log = live_consumer
    tag = uuid.uuid4().hex[:8]
    good = [
        (
            f"{tag}-{i % 7}".encode(),
            json.dumps(
                {
                    "event_id": f"{tag}-{i}",
                    "player_id": f"{tag}-{i % 7}",
                    "delta": i + 1,
                    "created_at": AT,
                }
            ).encode(),
            [],
        )
        for i in range(good_count)
    ]
    # A valid event but for its 10 MB of padding: the broker takes it, the consumer refuses
    # to parse it.
    bad = [*bad, (b"big", msgspec.json.encode(event(pad="x" * TEN_MB)), [])]
    messages = [*good, *bad]
    order.shuffle(messages)
    before = RejectedEvent.objects.filter(topic=topic).count()

    send(topic, messages)

    expected = {}
    for i in range(good_count):
        expected[f"{tag}-{i % 7}"] = expected.get(f"{tag}-{i % 7}", 0) + i + 1

    def mine() -> dict[str, int]:
        return {p: total for p, total in stored_totals().items() if p.startswith(f"{tag}-")}

    wait_for(
        lambda: (
            mine() == expected
            and RejectedEvent.objects.filter(topic=topic).count() == before + len(bad)
        ),
        timeout=60,
        message="every good event counted and every bad one rejected",
    )
    assert process.poll() is None, log.read_text()[-3000:]
    assert mine() == expected  # exactly once: no duplicates arrived meanwhile
    rejected = list(RejectedEvent.objects.filter(topic=topic).order_by("-id")[: len(bad)])
    assert sorted(bytes(r.raw) for r in rejected) == sorted(value for _, value, _ in bad)
    assert all(r.reason in REASONS and r.detail for r in rejected)
    # ...rejected by the rules, not by the poison-pill rule's net for consumer bugs.
    assert not [r.detail for r in rejected if r.reason == Reason.CONSUMER_ERROR]
    [too_big] = [r for r in rejected if r.key is not None and bytes(r.key) == b"big"]
    assert too_big.reason == Reason.TOO_LONG
    assert len(bytes(too_big.raw)) > TEN_MB > MAX_EVENT_BYTES
