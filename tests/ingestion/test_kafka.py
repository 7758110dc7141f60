"""The score producers' settings: acks=all and idempotence, for `POST /events/` and the
faker, checked in the config and on the embedded broker (Tansu grants producer ids)."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command

from ingestion import fake, kafka
from ingestion.kafka import producer_config


def test_producers_wait_for_every_in_sync_replica_and_are_idempotent():
    config = producer_config()

    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True


def test_idempotence_can_be_turned_off_for_a_broker_without_it_and_acks_all_stays(settings):
    settings.KAFKA_PRODUCER_IDEMPOTENCE = False

    config = producer_config()

    assert config["enable.idempotence"] is False
    assert config["acks"] == "all"


@pytest.fixture
def producer_states(monkeypatch):
    """Every producer `make_producer` makes from now on, with librdkafka's statistics: their
    `eos` part says whether the broker gave the producer an id (idempotence at work)."""
    made: list[tuple[object, list[dict]]] = []
    real = kafka.make_producer

    def make(**overrides):
        stats: list[dict] = []
        producer = real(
            **overrides,
            **{"statistics.interval.ms": 100, "stats_cb": lambda s: stats.append(json.loads(s))},
        )
        made.append((producer, stats))
        return producer

    monkeypatch.setattr(kafka, "make_producer", make)
    monkeypatch.setattr(fake, "make_producer", make)
    monkeypatch.setattr(kafka, "producer_holder", kafka.ProducerHolder())
    return made


def _idempotence_state(producer, stats: list[dict], timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        producer.poll(0.1)
        if stats and stats[-1].get("eos", {}).get("idemp_state") == "Assigned":
            break
    assert stats, "no statistics from the producer"
    return stats[-1].get("eos", {"idemp_state": "none: not an idempotent producer"})


def test_post_events_produces_through_an_idempotent_producer(keyed_client, topic, producer_states):
    response = keyed_client.post(
        "/api/v1/events/", [{"player_id": f"p{i}", "delta": 1} for i in range(20)], format="json"
    )

    assert response.status_code == 202, response.json()
    [(producer, stats)] = producer_states
    eos = _idempotence_state(producer, stats)
    assert eos["idemp_state"] == "Assigned", eos
    assert eos["producer_id"] >= 0


def test_the_faker_produces_through_an_idempotent_producer(topic, producer_states):
    out = io.StringIO()

    call_command(
        "produce_fake_events", "--rate", "200", "--duration", "1", "--players", "20", stdout=out
    )

    assert ", 0 delivery errors, 0 undelivered" in out.getvalue()
    [(producer, stats)] = producer_states
    eos = _idempotence_state(producer, stats)
    assert eos["idemp_state"] == "Assigned", eos
    assert eos["producer_id"] >= 0
