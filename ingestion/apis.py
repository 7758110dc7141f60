"""The ingestion API: the HTTP write path into Kafka, and the rejected events to inspect.

`POST /events/` validates with the same contract as the consumer, then produces to the
score topic; the consumer stores the events like any others. Nothing is produced unless
every event of the request is valid, so a client can fix and resend the whole request.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import Pagination
from config.permissions import ApiKeyRequired
from ingestion.events import Reason, Rejection, ingest_limits, validate_event
from ingestion.models import RejectedEvent
from ingestion.services import KafkaUnavailable, events_publish

MAX_EVENTS_PER_REQUEST = 1000
# Far above any real event, far below Kafka's message size limit: an item this big is a
# client bug, refused up front rather than failing halfway through a produce.
MAX_EVENT_BYTES = 64 * 1024


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
        limits = ingest_limits()
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
