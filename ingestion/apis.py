"""The ingestion API: the HTTP write path into Kafka, and the rejected events to inspect.

`POST /events/` validates with the same contract as the consumer, then produces to the
score topic; the consumer stores the events like any others. Nothing is produced unless
every event of the request is valid, so a client can fix and resend the whole request.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import HasScopedApiKey
from config.exceptions import BadRequest
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    LIST_PAGE_PARAMETERS,
    ErrorSerializer,
    page_example,
    page_of,
    validation_error,
)
from config.pagination import paginated_response
from config.parsers import JSONParser
from ingestion.events import (
    DEFAULT_METRIC,
    EVENT_ID_MAX_LENGTH,
    ingest_limits,
    validate_events,
)
from ingestion.models import RejectedEvent
from ingestion.services import events_publish
from leaderboards.models import METRIC_MAX_LENGTH, METRIC_PATTERN
from players.models import PLAYER_ID_MAX_LENGTH
from players.profiles import DISPLAY_NAME_MAX_LENGTH

MAX_EVENTS_PER_REQUEST = 1000


class RejectedEventListApi(APIView):
    """Messages the consumer could not accept, newest first. Private: they hold raw
    producer payloads, so even reading needs an API key."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.REJECTED_READ

    class FilterSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=64, required=False, help_text="Only rejections for this reason."
        )

    @extend_schema_serializer(component_name="RejectedEvent")
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

    @extend_schema(
        operation_id="rejected_events_list",
        summary="Rejected events, newest first",
        description=(
            "Messages the consumer could not accept, with the reason and the raw payload "
            "(decoded as UTF-8, undecodable bytes replaced). Needs an API key."
        ),
        auth=API_KEY_AUTH,
        parameters=[FilterSerializer, *LIST_PAGE_PARAMETERS],
        responses={
            200: OpenApiResponse(
                page_of("RejectedEventPage", OutputSerializer(many=True)),
                description="One page of rejected events.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example(
                            "rejected-events/",
                            [
                                {
                                    "id": 4711,
                                    "topic": "score-events",
                                    "partition": 3,
                                    "offset": 918273,
                                    "key": "p123",
                                    "raw": '{"player_id": "p123", "delta": "fifty"}',
                                    "reason": "wrong_type",
                                    "detail": "delta must be an integer, got a string",
                                    "received_at": "2026-11-23T12:00:01.234567Z",
                                }
                            ],
                            count=2,
                            limit=1,
                        ),
                    )
                ],
            ),
            400: validation_error(
                {"reason": ["Ensure this field has no more than 64 characters."]}
            ),
            403: API_KEY_MISSING,
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        events = RejectedEvent.objects.filter(**filters.validated_data)
        return paginated_response(request, self, events, self.OutputSerializer)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "date-time", "description": "RFC 3339, with offset"},
            {"type": "integer", "description": "epoch milliseconds"},
        ]
    }
)
class EventTimeField(serializers.Field):
    """For the schema only: an RFC 3339 string or epoch milliseconds."""


@extend_schema_serializer(component_name="EventError")
class EventErrorSerializer(serializers.Serializer):
    """For the schema only: what is wrong with one event of a request."""

    index = serializers.IntegerField(help_text="The event's position in the request.")
    reason = serializers.CharField(help_text="A stable code, e.g. missing_field.")
    detail = serializers.CharField()


@extend_schema_serializer(component_name="EventErrors")
class EventErrorsSerializer(serializers.Serializer):
    errors = EventErrorSerializer(many=True)


SCORE_EVENT_EXAMPLE = {
    "event_id": "7d3c6a2e-6f1b-4c55-9d1e-2a8f0b7c9e41",
    "player_id": "p123",
    "delta": 50,
    "metric": "score",
    "created_at": "2026-11-22T12:00:00.123Z",
}


class EventCreateApi(APIView):
    """Accept score events over HTTP (API key): one event object or a list of them."""

    api_key_scope = Scope.EVENTS_WRITE
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="ScoreEvent")
    class InputSerializer(serializers.Serializer):
        """One score event, the same contract as a Kafka message's value. For the schema
        only: ingestion.events.validate_event checks events, as it does for the consumer.
        Aliases from older producers are accepted too (`playerId`, `createdAt`,
        `timestamp`, `eventId`, `displayName`; `newScore` is ignored)."""

        player_id = serializers.CharField(
            min_length=1, max_length=PLAYER_ID_MAX_LENGTH, help_text="The player's external id."
        )
        delta = serializers.IntegerField(
            help_text="The change of the metric (or the submitted value, on max/min/last "
            "boards); beyond ±INGEST_MAX_ABS_DELTA (10^9 by default) it is refused."
        )
        metric = serializers.RegexField(
            rf"^(?:{METRIC_PATTERN.pattern})\Z",
            max_length=METRIC_MAX_LENGTH,
            default=DEFAULT_METRIC,
            help_text="Which metric the delta counts towards.",
        )
        created_at = EventTimeField(
            required=False,
            help_text="When it happened; absent means now. At most "
            "INGEST_MAX_CLOCK_SKEW_SECONDS (300 by default) in the future, not before 2000.",
        )
        event_id = serializers.CharField(
            max_length=EVENT_ID_MAX_LENGTH,
            required=False,
            help_text="Makes resending safe: an event id is stored once. Without one, player "
            "+ metric + created_at identify the event.",
        )
        display_name = serializers.CharField(
            min_length=1,
            max_length=DISPLAY_NAME_MAX_LENGTH,
            required=False,
            help_text="Names the player on every board: trimmed, 1 to 100 characters, no "
            "control or invisible format characters (zero-width, bidi overrides). The name "
            "of the latest event by created_at wins; one set over the profile API counts as "
            "set when it was.",
        )

    @extend_schema_serializer(component_name="EventsAccepted")
    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField(help_text="How many events Kafka took.")

    @extend_schema(
        operation_id="events_create",
        summary="Send score events",
        description=(
            f"One event object or a list of up to {MAX_EVENTS_PER_REQUEST}. Every event is "
            "checked first; if any is invalid nothing is sent and the answer lists what is "
            "wrong with each one, so the whole request can be fixed and resent. Valid "
            "events go to Kafka, keyed by player, and count once the consumer has stored "
            "them (usually within a second). Needs an API key."
        ),
        auth=API_KEY_AUTH,
        request=PolymorphicProxySerializer(
            component_name="ScoreEvents",
            serializers=[InputSerializer(), InputSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            202: OpenApiResponse(OutputSerializer, description="Kafka has the events."),
            400: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="EventsRejected",
                    serializers=[EventErrorsSerializer, ErrorSerializer],
                    resource_type_field_name=None,
                    many=False,
                ),
                description="Invalid events (nothing was sent), or an unusable body.",
                examples=[
                    OpenApiExample(
                        "Invalid events",
                        value={
                            "errors": [
                                {
                                    "index": 1,
                                    "reason": "missing_field",
                                    "detail": "delta is required",
                                }
                            ]
                        },
                    ),
                    OpenApiExample(
                        "Empty list",
                        value={"detail": "Send one event object or a non-empty list of events."},
                    ),
                    OpenApiExample(
                        "No body",
                        value={
                            "detail": "The request body is empty: send one event object or a list."
                        },
                    ),
                ],
            ),
            403: API_KEY_MISSING,
            503: OpenApiResponse(
                ErrorSerializer,
                description="Kafka did not take the events in time; resend later.",
                examples=[
                    OpenApiExample(
                        "Kafka down",
                        value={
                            "detail": "Kafka did not accept 2 of 2 events (no acknowledgement "
                            "in time). Some may still arrive; resending is safe for events "
                            "that carry an event_id."
                        },
                    )
                ],
            ),
        },
        examples=[
            OpenApiExample("One event", request_only=True, value=SCORE_EVENT_EXAMPLE),
            OpenApiExample(
                "A list of events",
                request_only=True,
                value=[
                    SCORE_EVENT_EXAMPLE,
                    {"player_id": "p77", "delta": -20, "created_at": 1795348805123},
                ],
            ),
            OpenApiExample(
                "Accepted", response_only=True, status_codes=[202], value={"accepted": 2}
            ),
        ],
    )
    def post(self, request):
        if request.stream is None:  # no body: DRF would give {}, an event with no fields
            raise BadRequest("The request body is empty: send one event object or a list.")
        payloads = request.data if isinstance(request.data, list) else [request.data]
        if not payloads:
            raise BadRequest("Send one event object or a non-empty list of events.")
        if len(payloads) > MAX_EVENTS_PER_REQUEST:
            raise BadRequest(
                f"At most {MAX_EVENTS_PER_REQUEST} events per request, got {len(payloads)}."
            )
        checked = validate_events(payloads, limits=ingest_limits(), now=datetime.now(UTC))
        if checked.errors:
            errors = [asdict(error) for error in checked.errors]
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        events_publish(events=checked.accepted)  # Kafka down: a 503 (config/exceptions.py)
        return Response({"accepted": len(checked.accepted)}, status=status.HTTP_202_ACCEPTED)
