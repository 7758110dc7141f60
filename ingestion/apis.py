"""The ingestion API: the HTTP write path into Kafka, and the rejected events to inspect.

`POST /events/` validates with the same contract as the consumer, then produces to the
score topic; the consumer stores the events like any others. Nothing is produced unless
every event of the request is valid, so a client can fix and resend the whole request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
from confluent_kafka import KafkaException, Producer
from django.conf import settings
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import ApiKeyRequired
from ingestion.events import Limits, Reason, Rejection, validate_event
from ingestion.kafka import ensure_topic, make_producer, produce_events
from ingestion.models import RejectedEvent

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000
# Far above any real event, far below Kafka's message size limit: an item this big is a
# client bug, refused up front rather than failing halfway through a produce.
MAX_EVENT_BYTES = 64 * 1024
# How long a request waits for Kafka to acknowledge its events before answering 503.
PRODUCE_TIMEOUT_SECONDS = 10.0
TOPIC_TIMEOUT_SECONDS = 10.0


class Pagination(LimitOffsetPagination):
    max_limit = 1000


class RejectedEventListApi(APIView):
    """Messages the consumer could not accept, newest first. Private: they hold raw
    producer payloads, so even reading needs an API key."""

    permission_classes = [ApiKeyRequired]

    class FilterSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=64, required=False)

    class OutputSerializer(serializers.ModelSerializer):
        key = serializers.SerializerMethodField()
        raw = serializers.CharField(source="raw_text")

        class Meta:
            model = RejectedEvent
            fields = [
                "id",
                "topic",
                "partition",
                "offset",
                "key",
                "raw",
                "reason",
                "detail",
                "received_at",
            ]

        def get_key(self, event: RejectedEvent) -> str | None:
            if event.key is None:
                return None
            return bytes(event.key).decode("utf-8", errors="replace")

    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = RejectedEvent.objects.filter(**filters.validated_data)
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class KafkaUnavailable(Exception):
    pass


class _ProducerHolder:
    """One producer per process, created on first use (after a fork, in the worker that
    uses it), and the topics already checked to exist."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._topics: set[str] = set()

    def get(self, topic: str) -> Producer:
        with self._lock:
            if topic not in self._topics:
                ensure_topic(topic=topic, timeout=TOPIC_TIMEOUT_SECONDS)
                self._topics.add(topic)
            if self._producer is None:
                # Undelivered messages expire instead of reaching Kafka long after the
                # client was told they failed.
                timeout_ms = int(PRODUCE_TIMEOUT_SECONDS * 1000)
                self._producer = make_producer(**{"message.timeout.ms": timeout_ms})
            return self._producer

    def reset(self) -> None:
        with self._lock:
            self._producer = None
            self._topics.clear()


producer_holder = _ProducerHolder()


class _DeliveryTracker:
    """Wraps the shared producer for one request, so the request learns the fate of its
    own messages even while other requests use the same producer."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self.delivered: list[bool] = []
        self.errors: list[str] = []

    def produce(self, topic, value, key=None) -> None:
        self._producer.produce(topic, value, key=key, on_delivery=self._on_delivery)

    def poll(self, timeout: float) -> int:
        return self._producer.poll(timeout)

    def _on_delivery(self, err, _message) -> None:
        if err is None:
            self.delivered.append(True)
        else:
            self.errors.append(str(err))

    def wait(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._producer.flush(timeout)
        # Another thread's poll may serve our callbacks; wait until they have all run.
        while len(self.delivered) + len(self.errors) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._producer.poll(min(remaining, 0.05))


def events_publish(*, events: Sequence[tuple[str, dict]]) -> None:
    """Produce (player_id, payload) pairs to the score topic and wait for Kafka to take
    them. Raises KafkaUnavailable when it does not, in time."""
    topic = settings.KAFKA_TOPIC
    try:
        tracker = _DeliveryTracker(producer_holder.get(topic))
        produce_events(tracker, events, topic=topic)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka is unavailable: {exc}") from exc
    tracker.wait(len(events), PRODUCE_TIMEOUT_SECONDS)
    if tracker.errors or len(tracker.delivered) < len(events):
        failed = len(events) - len(tracker.delivered)
        logger.warning("http produce: %d of %d events not delivered", failed, len(events))
        reason = tracker.errors[0] if tracker.errors else "no acknowledgement in time"
        raise KafkaUnavailable(
            f"Kafka did not accept {failed} of {len(events)} events ({reason}). "
            "Some may still arrive; resending is safe for events that carry an event_id."
        )


_encoder = msgspec.json.Encoder()


class EventCreateApi(APIView):
    """Accept score events over HTTP (API key): one event object or a list of them."""

    parser_classes = [JSONParser]

    def post(self, request):
        payloads = request.data if isinstance(request.data, list) else [request.data]
        if not payloads:
            return _bad_request("Send one event object or a non-empty list of events.")
        if len(payloads) > MAX_EVENTS_PER_REQUEST:
            return _bad_request(
                f"At most {MAX_EVENTS_PER_REQUEST} events per request, got {len(payloads)}."
            )
        limits = Limits(
            max_abs_delta=settings.INGEST_MAX_ABS_DELTA,
            max_clock_skew=timedelta(seconds=settings.INGEST_MAX_CLOCK_SKEW_SECONDS),
        )
        now = datetime.now(UTC)
        accepted, errors = [], []
        for index, payload in enumerate(payloads):
            result = validate_event(payload, limits=limits, now=now, fallback_time=now)
            if isinstance(result, Rejection):
                errors.append({"index": index, "reason": result.reason, "detail": result.detail})
            elif (size := len(_encoder.encode(payload))) > MAX_EVENT_BYTES:
                detail = f"event is {size} bytes as JSON, at most {MAX_EVENT_BYTES}"
                errors.append({"index": index, "reason": Reason.TOO_LONG, "detail": detail})
            else:
                accepted.append((result.player_id, payload))
        if errors:
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            events_publish(events=accepted)
        except KafkaUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"accepted": len(accepted)}, status=status.HTTP_202_ACCEPTED)


def _bad_request(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
