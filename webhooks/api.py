"""The API of webhooks: register an endpoint (its secret shown once), list, read and remove
them, and list the attempts of an endpoint's deliveries. Every method needs an API key with
`webhooks:write`: an endpoint's URL and its delivery log are not public."""

from __future__ import annotations

from typing import cast
from uuid import UUID

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import HasScopedApiKey
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    LIST_PAGE_PARAMETERS,
    not_found,
    page_example,
    page_of,
    validation_error,
)
from config.pagination import paginated_response
from webhooks import selectors, services
from webhooks.models import URL_MAX_LENGTH, Attempt, Endpoint, Event

# drf-spectacular's stubs type `auth` as scheme names; it takes requirement objects.
AUTH = cast("list[str]", API_KEY_AUTH)
ENDPOINT_ID = OpenApiParameter(
    "id", UUID, OpenApiParameter.PATH, description="The endpoint's id (a UUID)."
)
ENDPOINT_NOT_FOUND = not_found("No Endpoint matches the given query.")
ENDPOINT_EXAMPLE = {
    "id": "3f0c2a8e-6b1d-4e57-9a0b-2d7c9e4f1a22",
    "url": "https://prizes.example.com/hooks/leaderboards",
    "events": ["board.finalized"],
    "created_at": "2026-11-23T12:00:00Z",
    "failing_since": None,
    "disabled_at": None,
    "disabled_reason": "",
}
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@extend_schema_serializer(component_name="WebhookEndpoint")
class EndpointOutputSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices))

    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "events",
            "created_at",
            "failing_since",
            "disabled_at",
            "disabled_reason",
        ]


class WebhookListApi(APIView):
    """GET: every endpoint. POST: register one; the answer holds its secret, once."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.WEBHOOKS_WRITE

    @extend_schema_serializer(component_name="WebhookEndpointCreate")
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=URL_MAX_LENGTH,
            trim_whitespace=False,
            help_text="An http or https URL whose host resolves to public addresses only.",
        )
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=Event.choices),
            allow_empty=False,
            max_length=len(Event.choices),
        )

    @extend_schema_serializer(component_name="WebhookEndpointCreated")
    class CreatedSerializer(EndpointOutputSerializer):
        secret = serializers.CharField(
            help_text="`whsec_` + base64: verifies the signature of every delivery. Shown "
            "only in this answer."
        )

        class Meta(EndpointOutputSerializer.Meta):
            fields = [*EndpointOutputSerializer.Meta.fields, "secret"]

    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        auth=AUTH,
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                page_of("WebhookEndpointPage", EndpointOutputSerializer(many=True)),
                description="One page of endpoints, newest first.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example("webhooks/", [ENDPOINT_EXAMPLE], count=1, limit=50),
                    )
                ],
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            403: API_KEY_MISSING,
        },
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request, self, selectors.endpoint_list(), EndpointOutputSerializer
        )

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint",
        description=(
            "Deliveries of the `events` named (`board.finalized`, `board.started`) are "
            "POSTed to `url`, signed as the Standard Webhooks specification says with the "
            "`secret` of the answer, which is shown this once. The URL must be http or "
            "https and its host must resolve to public addresses only."
        ),
        auth=AUTH,
        request=InputSerializer,
        responses={
            201: OpenApiResponse(
                CreatedSerializer,
                description="The endpoint, with its secret.",
                examples=[
                    OpenApiExample(
                        "Registered", value={**ENDPOINT_EXAMPLE, "secret": SECRET_EXAMPLE}
                    )
                ],
            ),
            400: validation_error(
                {
                    "url": [
                        "The host 'localhost' resolves to 127.0.0.1, a loopback address: "
                        "webhooks go to public addresses only."
                    ]
                }
            ),
            403: API_KEY_MISSING,
        },
        examples=[
            OpenApiExample(
                "Final results",
                value={"url": ENDPOINT_EXAMPLE["url"], "events": ["board.finalized"]},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(**serializer.validated_data)
        return Response(self.CreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.WEBHOOKS_WRITE

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook endpoint",
        auth=AUTH,
        parameters=[ENDPOINT_ID],
        responses={
            200: OpenApiResponse(
                EndpointOutputSerializer,
                description="The endpoint (without its secret).",
                examples=[OpenApiExample("An endpoint", value=ENDPOINT_EXAMPLE)],
            ),
            403: API_KEY_MISSING,
            404: ENDPOINT_NOT_FOUND,
        },
    )
    def get(self, request: Request, id: UUID) -> Response:
        return Response(EndpointOutputSerializer(selectors.endpoint_get(id)).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Remove a webhook endpoint",
        description="Its pending deliveries are dropped and its delivery log with it.",
        auth=AUTH,
        parameters=[ENDPOINT_ID],
        responses={
            204: OpenApiResponse(description="Removed."),
            403: API_KEY_MISSING,
            404: ENDPOINT_NOT_FOUND,
        },
    )
    def delete(self, request: Request, id: UUID) -> Response:
        services.endpoint_delete(endpoint=selectors.endpoint_get(id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="WebhookAttempt")
class AttemptOutputSerializer(serializers.ModelSerializer):
    message_id = serializers.CharField(
        source="delivery.message_id", help_text="The webhook-id header: one per message."
    )
    event = serializers.ChoiceField(source="delivery.message.event", choices=Event.choices)
    delivery_status = serializers.ChoiceField(
        source="delivery.status",
        choices=["pending", "succeeded", "failed"],
        help_text="Where the delivery of this message stands now.",
    )
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The answer's status; null when there was none."
    )
    error = serializers.CharField(help_text="Why the attempt failed; empty when it did not.")
    duration_ms = serializers.IntegerField(help_text="From connecting to the answer.")

    class Meta:
        model = Attempt
        fields = [
            "attempted_at",
            "message_id",
            "event",
            "status_code",
            "error",
            "duration_ms",
            "delivery_status",
        ]


class WebhookDeliveryListApi(APIView):
    """Every attempt to deliver to the endpoint, newest first."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.WEBHOOKS_WRITE

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="A webhook endpoint's delivery attempts, newest first",
        auth=AUTH,
        parameters=[ENDPOINT_ID, *LIST_PAGE_PARAMETERS],
        responses={
            200: OpenApiResponse(
                page_of("WebhookAttemptPage", AttemptOutputSerializer(many=True)),
                description="One page of attempts.",
                examples=[
                    OpenApiExample(
                        "A retry after a 500",
                        value=page_example(
                            "webhooks/3f0c2a8e-6b1d-4e57-9a0b-2d7c9e4f1a22/deliveries/",
                            [
                                {
                                    "attempted_at": "2026-11-30T00:10:12.031Z",
                                    "message_id": "msg_7b1f0c3d9e2a4c5b8d6e0f1a2b3c4d5e",
                                    "event": "board.finalized",
                                    "status_code": 200,
                                    "error": "",
                                    "duration_ms": 84,
                                    "delivery_status": "succeeded",
                                },
                                {
                                    "attempted_at": "2026-11-30T00:10:01.958Z",
                                    "message_id": "msg_7b1f0c3d9e2a4c5b8d6e0f1a2b3c4d5e",
                                    "event": "board.finalized",
                                    "status_code": 500,
                                    "error": "Answered 500.",
                                    "duration_ms": 97,
                                    "delivery_status": "succeeded",
                                },
                            ],
                            count=2,
                            limit=50,
                        ),
                    )
                ],
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            403: API_KEY_MISSING,
            404: ENDPOINT_NOT_FOUND,
        },
    )
    def get(self, request: Request, id: UUID) -> Response:
        attempts = selectors.endpoint_attempts(selectors.endpoint_get(id))
        return paginated_response(request, self, attempts, AttemptOutputSerializer)
