"""Player profiles: `GET /players/{player_id}/` (public) answers the profile and the
player's rank on every live board; `PUT` (API key, boards:write) creates or replaces the
display name and metadata, `PATCH` changes what it names; `DELETE` (API key,
players:moderate) erases the player (leaderboards/erasure.py). The rules of a name and of
metadata are players/profiles.py's, the same as for a score event's `display_name`."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from config.exceptions import ServiceUnavailable
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    ErrorSerializer,
    not_found,
    validation_error,
)
from config.renderers import json_response
from leaderboards.api import openapi as docs
from leaderboards.api.moderation import request_actor
from leaderboards.api.response_cache import response_cache_clear
from leaderboards.erasure import player_erase
from leaderboards.moderation import REASON_MAX_LENGTH
from leaderboards.selectors import player_standings
from players.models import Player
from players.profiles import (
    DISPLAY_NAME_MAX_LENGTH,
    display_name_problem,
    metadata_problem,
    player_id_problem,
)
from players.services import player_profile_set


class DisplayNameField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=DISPLAY_NAME_MAX_LENGTH, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        name = super().to_internal_value(data)
        if problem := display_name_problem(name):
            raise serializers.ValidationError(f"This field {problem}.")
        return name


class MetadataField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if problem := metadata_problem(value):
            raise serializers.ValidationError(f"This field {problem}.")
        return value


@extend_schema_serializer(component_name="PlayerBoard")
class PlayerBoardSerializer(serializers.Serializer):
    board = serializers.SlugField(help_text="The board's slug.")
    rank = serializers.IntegerField()
    score = serializers.IntegerField()


@extend_schema_serializer(component_name="PlayerProfile")
class ProfileOutputSerializer(serializers.Serializer):
    player_id = serializers.CharField()
    display_name = serializers.CharField(allow_null=True, help_text="Null until named.")
    metadata = serializers.JSONField(help_text="A JSON object, at most 4 KB encoded.")
    created_at = serializers.DateTimeField()
    boards = PlayerBoardSerializer(
        many=True, help_text="Every live board where the player has a score."
    )


def _profile(request, player: Player, status_code: int = 200):
    data = {
        "player_id": player.external_id,
        "display_name": player.display_name or None,
        "metadata": player.metadata,
        "created_at": serializers.DateTimeField().to_representation(player.created_at),
        "boards": player_standings(player.external_id),
    }
    return json_response(request, data, status=status_code)


class PlayerProfileApi(APIView):
    @property
    def api_key_scope(self) -> str:
        """Writing a profile needs `boards:write`; erasing the player `players:moderate`."""
        request = getattr(self, "request", None)
        if request is not None and request.method == "DELETE":
            return Scope.PLAYERS_MODERATE
        return Scope.BOARDS_WRITE

    @extend_schema_serializer(component_name="PlayerProfileWrite")
    class InputSerializer(serializers.Serializer):
        display_name = DisplayNameField(
            help_text=f"1 to {DISPLAY_NAME_MAX_LENGTH} characters once trimmed, no control "
            "or invisible format characters (zero-width, bidi overrides); shown on every board."
        )
        metadata = MetadataField(
            required=False, help_text="A JSON object of at most 4 KB encoded; {} when left out."
        )

    @extend_schema(
        operation_id="players_retrieve",
        summary="A player's profile and ranks",
        parameters=[docs.PLAYER_ID],
        responses={
            200: OpenApiResponse(
                ProfileOutputSerializer,
                description="The profile, with the player's rank on every live board.",
                examples=[docs.PROFILE],
            ),
            404: not_found("No player 'p404'."),
        },
    )
    def get(self, request, player_id: str):
        return _profile(request, self._player(player_id))

    @extend_schema(
        operation_id="players_update",
        summary="Create or replace a player's profile",
        description="Needs an API key with `boards:write`. 201 when the player is new.",
        auth=API_KEY_AUTH,
        parameters=[docs.PLAYER_ID],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                ProfileOutputSerializer,
                description="The profile, replaced.",
                examples=[docs.PROFILE],
            ),
            201: OpenApiResponse(
                ProfileOutputSerializer, description="The new player.", examples=[docs.PROFILE]
            ),
            400: validation_error({"display_name": ["This field may not be blank."]}),
            403: API_KEY_MISSING,
        },
        examples=[
            OpenApiExample(
                "A profile",
                request_only=True,
                value={"display_name": "Ada", "metadata": {"country": "NZ"}},
            )
        ],
    )
    def put(self, request, player_id: str):
        self._check_id(player_id)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        player, created = player_profile_set(
            external_id=player_id,
            display_name=body.validated_data["display_name"],
            metadata=body.validated_data.get("metadata", {}),
        )
        return _profile(request, player, status.HTTP_201_CREATED if created else 200)

    @extend_schema(
        operation_id="players_partial_update",
        summary="Change part of a player's profile",
        description="Needs an API key with `boards:write`. Only the fields sent change.",
        auth=API_KEY_AUTH,
        parameters=[docs.PLAYER_ID],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                ProfileOutputSerializer, description="The profile.", examples=[docs.PROFILE]
            ),
            400: validation_error({"metadata": ["This field must be a JSON object."]}),
            403: API_KEY_MISSING,
            404: not_found("No player 'p404'."),
        },
    )
    def patch(self, request, player_id: str):
        self._player(player_id)
        body = self.InputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        player, _ = player_profile_set(external_id=player_id, **body.validated_data)
        return _profile(request, player)

    class EraseInputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=REASON_MAX_LENGTH,
            required=False,
            allow_blank=True,
            help_text=f"Why, at most {REASON_MAX_LENGTH} characters; kept in the audit "
            "log (the id and the name redacted from it).",
        )

    @extend_schema(
        operation_id="players_erase",
        summary="Erase a player",
        description=(
            "Deletes everything held on the player: the profile, every event, rollup, final "
            "standing, participation and league place, rejected events holding the id or "
            "the name, and every Redis entry of them; webhook message bodies and audit "
            "entries naming them are redacted (the audit log keeps a keyed hash of the id). "
            "Everyone else closes up, finalised boards included. An event of the player "
            "stamped before the erasure and sent again later is dropped; one stamped after "
            "it starts a new player. Erasing an erased player finishes what a failed "
            "attempt left (204). Needs an API key with `players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=[docs.PLAYER_ID],
        request=EraseInputSerializer,
        responses={
            204: OpenApiResponse(description="Erased."),
            400: validation_error(
                {"reason": ["Ensure this field has no more than 500 characters."]}
            ),
            403: API_KEY_MISSING,
            404: not_found("No player 'p404'."),
            503: OpenApiResponse(
                ErrorSerializer,
                description="The database or Redis failed part-way: send the request again.",
            ),
        },
        examples=[
            OpenApiExample("An erasure", request_only=True, value={"reason": "GDPR request 42"})
        ],
    )
    def delete(self, request: Request, player_id: str) -> Response:
        body = self.EraseInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        erasure = player_erase(
            player_id=player_id,
            actor=request_actor(request),
            reason=body.validated_data.get("reason", ""),
        )
        # This process's kept answers may name the player; other processes' expire within
        # LEADERBOARD_RESPONSE_CACHE_MS.
        response_cache_clear()
        if erasure.redis_cleaned is False:
            raise ServiceUnavailable(
                "The player is erased from the database, but Redis could not be cleaned: "
                "send the request again to finish."
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _check_id(player_id: str) -> None:
        if problem := player_id_problem(player_id):
            raise serializers.ValidationError({"player_id": [problem]})

    def _player(self, player_id: str) -> Player:
        player = (
            Player.objects.filter(external_id=player_id).first()
            if "\x00" not in player_id
            else None
        )
        if player is None:
            raise NotFound(f"No player {player_id!r}.")
        return player
