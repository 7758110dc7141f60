"""How every Kafka client of the project connects: the brokers named in settings. One
place, so a client added later (and the readiness check) cannot connect differently."""

from __future__ import annotations

from django.conf import settings


def client_config(**overrides) -> dict:
    """librdkafka settings for a producer, consumer or admin client, with `overrides`."""
    return {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, **overrides}
