"""The ingestion API: the HTTP write path into the real Kafka, and rejected events."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from django.conf import settings
from rest_framework.test import APIClient

from ingestion import kafka
from ingestion.models import RejectedEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return APIClient()


def read_topic(topic: str, *, expected: int, timeout: float = 30.0) -> list[tuple[str, dict]]:
    """The topic's messages as (key, value), read from the start of every partition until
    `expected` have arrived and then a quiet second has passed, so extras would show.
    Partitions are assigned rather than subscribed: a group join takes many seconds here.
    (Watermarks cannot stand in for the quiet second: the embedded broker reports a high
    watermark below the last offset after a batched produce.)"""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    messages = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        last_seen = time.monotonic()
        while time.monotonic() < deadline:
            if len(messages) >= expected and time.monotonic() - last_seen > 1.0:
                break
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            messages.append((message.key().decode(), json.loads(message.value())))
            last_seen = time.monotonic()
    finally:
        consumer.close()
    return messages


_offsets = itertools.count()


def make_rejected(n: int, *, reason: str = "malformed_json") -> list[RejectedEvent]:
    return [
        RejectedEvent.objects.create(
            topic="score-events",
            partition=0,
            offset=next(_offsets),
            key=b"p1",
            raw=b"{not json",
            reason=reason,
            detail="not valid JSON",
        )
        for _ in range(n)
    ]


# -- rejected events ----------------------------------------------------------------------


def test_rejected_events_are_private_even_to_read(client):
    make_rejected(1)

    response = client.get("/api/v1/rejected-events/")

    assert response.status_code in (401, 403)
    assert "Api-Key" in response.json()["detail"]


def test_rejected_events_are_listed_newest_first_with_paging(keyed_client):
    older, newer = make_rejected(2)

    first = keyed_client.get("/api/v1/rejected-events/?limit=1").json()
    second = keyed_client.get(first["next"]).json()

    assert first["count"] == 2
    assert [e["id"] for e in first["results"]] == [newer.id]
    assert [e["id"] for e in second["results"]] == [older.id]
    assert second["next"] is None
    item = first["results"][0]
    assert set(item) == {
        "id",
        "topic",
        "partition",
        "offset",
        "key",
        "raw",
        "reason",
        "detail",
        "received_at",
    }
    assert item["topic"] == "score-events"
    assert item["reason"] == "malformed_json"


def test_rejected_events_show_bytes_as_text_with_replacement(keyed_client):
    RejectedEvent.objects.create(
        topic="t", partition=1, offset=7, key=b"p\xff1", raw=b'{"a":"\xc3\x28"}', reason="x"
    )
    RejectedEvent.objects.create(topic="t", partition=1, offset=8, key=None, raw=b"", reason="x")

    results = keyed_client.get("/api/v1/rejected-events/").json()["results"]

    by_offset = {e["offset"]: e for e in results}
    assert by_offset[7]["key"] == "p\ufffd1"
    assert by_offset[7]["raw"] == '{"a":"\ufffd("}'
    assert by_offset[8]["key"] is None
    assert by_offset[8]["raw"] == ""


def test_rejected_events_filter_by_reason(keyed_client):
    make_rejected(2, reason="malformed_json")
    make_rejected(1, reason="absurd_delta")

    body = keyed_client.get("/api/v1/rejected-events/?reason=absurd_delta").json()

    assert body["count"] == 1
    assert body["results"][0]["reason"] == "absurd_delta"


# -- events -------------------------------------------------------------------------------


def test_events_without_an_api_key_are_refused(client, topic):
    response = client.post("/api/v1/events/", {"player_id": "p1", "delta": 5}, format="json")

    assert response.status_code in (401, 403)


def test_events_with_a_wrong_api_key_are_refused(client, topic):
    client.credentials(HTTP_AUTHORIZATION="Api-Key nope.nope")

    response = client.post("/api/v1/events/", {"player_id": "p1", "delta": 5}, format="json")

    assert response.status_code in (401, 403)


def test_one_event_is_accepted_and_produced_keyed_by_player(keyed_client, topic):
    event = {"event_id": "e-1", "player_id": "p1", "delta": 50, "metric": "score"}

    response = keyed_client.post("/api/v1/events/", event, format="json")

    assert response.status_code == 202, response.json()
    assert response.json() == {"accepted": 1}
    assert read_topic(topic, expected=1) == [("p1", event)]


def test_a_list_of_events_is_produced_as_sent_keyed_by_the_validated_player_id(keyed_client, topic):
    events = [
        {"player_id": "p1", "delta": 5, "created_at": "2026-01-01T00:00:00.123Z"},
        {"playerId": "p2", "delta": -3, "createdAt": 1767225600000, "eventId": "x"},
        {"player_id": "p1", "delta": 1, "metric": "kills"},
    ]

    response = keyed_client.post("/api/v1/events/", events, format="json")

    assert response.status_code == 202, response.json()
    assert response.json() == {"accepted": 3}
    received = read_topic(topic, expected=3)
    assert sorted(received, key=lambda kv: json.dumps(kv, sort_keys=True)) == sorted(
        [("p1", events[0]), ("p2", events[1]), ("p1", events[2])],
        key=lambda kv: json.dumps(kv, sort_keys=True),
    )


def test_invalid_events_are_reported_per_item_and_nothing_is_produced(keyed_client, topic):
    bad_request = [
        {"player_id": "ok", "delta": 1},
        {"delta": 1},
        {"player_id": "p", "delta": "ten"},
        {"player_id": "p", "delta": 10**12},
        {"player_id": "p", "delta": 1, "created_at": "2999-01-01T00:00:00Z"},
        {"player_id": "x" * 65, "delta": 1},
        "not an event",
        {"player_id": "p", "delta": 1, "note": "x" * 70_000},
    ]

    response = keyed_client.post("/api/v1/events/", bad_request, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["reason"]) for e in errors] == [
        (1, "missing_field"),
        (2, "wrong_type"),
        (3, "absurd_delta"),
        (4, "future_timestamp"),
        (5, "too_long"),
        (6, "not_an_object"),
        (7, "too_long"),
    ]
    assert all(e["detail"] for e in errors)
    # The valid first event of the refused request never reached Kafka: a later good
    # request's event is the only one on the topic.
    good = keyed_client.post("/api/v1/events/", {"player_id": "later", "delta": 2}, format="json")
    assert good.status_code == 202
    assert read_topic(topic, expected=1) == [("later", {"player_id": "later", "delta": 2})]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "non-empty list"),
        ([{"player_id": "p", "delta": 1}] * 1001, "At most 1000"),
    ],
)
def test_an_empty_or_oversized_request_is_refused(keyed_client, topic, body, message):
    response = keyed_client.post("/api/v1/events/", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_events_must_be_json(keyed_client, topic):
    response = keyed_client.post("/api/v1/events/", {"player_id": "p", "delta": "1"})

    assert response.status_code == 415


def test_malformed_json_is_a_400(keyed_client, topic):
    response = keyed_client.post(
        "/api/v1/events/", b'{"player_id": "p", ', content_type="application/json"
    )

    assert response.status_code == 400


def test_events_answer_503_when_kafka_is_unreachable(keyed_client, topic, settings, monkeypatch):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"
    monkeypatch.setattr(kafka, "producer_holder", kafka.ProducerHolder())
    monkeypatch.setattr(kafka, "TOPIC_TIMEOUT_SECONDS", 1.0)

    response = keyed_client.post("/api/v1/events/", {"player_id": "p", "delta": 1}, format="json")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("Kafka is unavailable")


def test_events_answer_503_when_kafka_does_not_acknowledge_in_time(
    keyed_client, topic, monkeypatch
):
    holder = kafka.ProducerHolder()
    holder.get(topic)  # the topic exists on the real broker...
    # ...but the producer talks to a broker that is not there.
    broken = kafka.make_producer(**{"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1000})
    holder._producer = broken
    monkeypatch.setattr(kafka, "producer_holder", holder)
    monkeypatch.setattr(kafka, "PRODUCE_TIMEOUT_SECONDS", 1.0)

    try:
        response = keyed_client.post(
            "/api/v1/events/", [{"player_id": "p", "delta": 1}] * 3, format="json"
        )
    finally:
        broken.close()

    assert response.status_code == 503
    assert "did not accept 3 of 3 events" in response.json()["detail"]


def test_json_nested_past_the_recursion_limit_is_a_400_not_a_500(keyed_client, topic):
    body = b"[" * 100_000 + b"]" * 100_000

    response = keyed_client.generic(
        "POST", "/api/v1/events/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_an_event_holding_a_lone_surrogate_is_a_400_naming_it(keyed_client, topic):
    body = b'{"player_id": "p", "delta": 1, "note": "\\ud800"}'

    response = keyed_client.generic(
        "POST", "/api/v1/events/", body, content_type="application/json"
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["reason"] == "invalid_value"
    assert "surrogates not allowed" in error["detail"]
