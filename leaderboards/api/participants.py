"""Tournament participants: `GET /leaderboards/{slug}/participants/` (public, paged, in join
order), `POST` (API key, boards:write) joins a player, `DELETE …/participants/{player_id}/`
removes one. The rules are leaderboards/tournaments.py's."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    BOARD_NOT_FOUND,
    LIST_PAGE_PARAMETERS,
    ErrorSerializer,
    not_found,
    validation_error,
)
from config.pagination import paginated_response
from leaderboards.api import openapi as docs
from leaderboards.api.serializers import ParticipantOutputSerializer
from leaderboards.cache.catalog import catalog
from leaderboards.models import Participant
from leaderboards.tournaments import participant_join, participant_leave
from players.models import PLAYER_ID_MAX_LENGTH
from players.profiles import player_id_problem


class ParticipantListApi(APIView):
    api_key_scope = Scope.BOARDS_WRITE

    @extend_schema_serializer(component_name="ParticipantJoin")
    class InputSerializer(serializers.Serializer):
        player_id = serializers.CharField(max_length=PLAYER_ID_MAX_LENGTH, trim_whitespace=False)

        def validate_player_id(self, value: str) -> str:
            if problem := player_id_problem(value):
                raise serializers.ValidationError(problem)
            return value

    @extend_schema(
        operation_id="boards_participants_list",
        summary="A board's participants",
        description="In the order they joined.",
        parameters=[docs.BOARD_SLUG, *LIST_PAGE_PARAMETERS],
        responses={
            200: OpenApiResponse(
                docs.PARTICIPANT_PAGE,
                description="One page of participants.",
                examples=[docs.PARTICIPANT_PAGE_EXAMPLE],
            ),
            404: BOARD_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = catalog.board(slug)
        participants = Participant.objects.filter(board_id=board.pk).select_related("player")
        return paginated_response(request, self, participants, ParticipantOutputSerializer)

    @extend_schema(
        operation_id="boards_participants_create",
        summary="Join a player to a board",
        description=(
            "201 when the player joined now, 200 when they were in already; 409 when the "
            "board is full (`max_participants`) or has ended. On a board with "
            "`join_required`, only a participant's events stamped at or after `joined_at` "
            "count. Needs an API key with `boards:write`."
        ),
        auth=API_KEY_AUTH,
        parameters=[docs.BOARD_SLUG],
        request=InputSerializer,
        responses={
            201: OpenApiResponse(
                ParticipantOutputSerializer,
                description="Joined.",
                examples=[OpenApiExample("Joined", value=docs.PARTICIPANT_EXAMPLE)],
            ),
            200: OpenApiResponse(
                ParticipantOutputSerializer,
                description="In already: the participant as they joined.",
                examples=[OpenApiExample("In already", value=docs.PARTICIPANT_EXAMPLE)],
            ),
            400: validation_error({"player_id": ["This field is required."]}),
            403: API_KEY_MISSING,
            404: BOARD_NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer,
                description="The board is full or has ended.",
                examples=[
                    OpenApiExample(
                        "Full",
                        value={"detail": "Board 'cup' is full: it takes 64 participants."},
                    )
                ],
            ),
        },
        examples=[OpenApiExample("Join", request_only=True, value={"player_id": "p77"})],
    )
    def post(self, request, slug: str):
        board = catalog.board(slug)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        participant, joined = participant_join(
            board=board, player_id=body.validated_data["player_id"]
        )
        return Response(
            ParticipantOutputSerializer(participant).data,
            status=status.HTTP_201_CREATED if joined else status.HTTP_200_OK,
        )


class ParticipantDetailApi(APIView):
    api_key_scope = Scope.BOARDS_WRITE

    @extend_schema(
        operation_id="boards_participants_destroy",
        summary="Remove a participant",
        description=(
            "On a board with `join_required` the player's events no longer count. Needs an "
            "API key with `boards:write`."
        ),
        auth=API_KEY_AUTH,
        parameters=[docs.BOARD_SLUG, docs.PLAYER_ID],
        responses={
            204: OpenApiResponse(description="Removed."),
            403: API_KEY_MISSING,
            404: not_found("Player 'p404' is not a participant of board 'cup'."),
        },
    )
    def delete(self, request, slug: str, player_id: str):
        board = catalog.board(slug)
        if "\x00" in player_id or not participant_leave(board=board, player_id=player_id):
            raise NotFound(f"Player {player_id!r} is not a participant of board {board.slug!r}.")
        return Response(status=status.HTTP_204_NO_CONTENT)
