"""The moderation API (issue 21), behind the `players:moderate` scope: the audit log, and
the actions it records (bans, and removing a player's score from one board). Views are
shells over leaderboards/moderation.py and players/audit.py."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import HasScopedApiKey, request_api_key
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
from config.renderers import json_response
from leaderboards.api import boards
from leaderboards.api import openapi as docs
from leaderboards.moderation import (
    REASON_MAX_LENGTH,
    board_score_remove,
    player_ban,
    player_unban,
)
from players.audit import Actor, audit_entries
from players.models import AuditEntry, Player


def request_actor(request: Request) -> Actor:
    """The audit log's name for whoever sent the request: the API key's name."""
    api_key = request_api_key(request)
    return Actor.api_key(api_key.name if api_key is not None else "")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "action",
            "reason",
            "actor",
            "actor_kind",
            "player_id",
            "player_hash",
            "board",
            "created_at",
        ]


class AuditLogApi(APIView):
    """Every moderation action, newest first. Private: needs `players:moderate`."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.PLAYERS_MODERATE

    @extend_schema(
        operation_id="audit_log_list",
        summary="The moderation audit log, newest first",
        description=(
            "Bans, unbans, score removals and erasures: who (the API key's name or the admin "
            "user), when, why, and the player (an erasure names only a keyed hash of the id). "
            "Needs an API key with `players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                page_of("AuditEntryPage", AuditEntrySerializer(many=True)),
                description="One page of the audit log.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example(
                            "audit-log/",
                            [
                                {
                                    "id": 12,
                                    "action": "ban",
                                    "reason": "speed hack",
                                    "actor": "support-tool",
                                    "actor_kind": "api_key",
                                    "player_id": "p123",
                                    "player_hash": "",
                                    "board": "",
                                    "created_at": "2026-11-23T12:00:01.234567Z",
                                }
                            ],
                            count=2,
                            limit=1,
                        ),
                    )
                ],
            ),
            403: API_KEY_MISSING,
        },
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, audit_entries(), AuditEntrySerializer)


@extend_schema_serializer(component_name="PlayerBan")
class BanOutputSerializer(serializers.Serializer):
    player_id = serializers.CharField()
    banned = serializers.BooleanField()
    reason = serializers.CharField()
    banned_at = serializers.DateTimeField()


def _ban_state(player: Player) -> dict:
    return {
        "player_id": player.external_id,
        "banned": True,
        "reason": player.ban_reason,
        "banned_at": player.banned_at
        and serializers.DateTimeField().to_representation(player.banned_at),
    }


class PlayerBanApi(APIView):
    """Ban (POST) and unban (DELETE) a player: hidden from every ranking, nothing lost."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.PLAYERS_MODERATE

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=REASON_MAX_LENGTH,
            help_text=f"Why, 1 to {REASON_MAX_LENGTH} characters; kept in the audit log.",
        )

    @extend_schema(
        operation_id="players_ban",
        summary="Ban a player",
        description=(
            "The player disappears from every ranking (live and finalised boards, ranks, "
            "around, standings, CSV, buckets, pages) and everyone else closes up; their "
            "events are still stored. Idempotent: banning a banned player answers its ban. "
            "Needs an API key with `players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=[docs.PLAYER_ID],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                BanOutputSerializer,
                description="The player's ban.",
                examples=[
                    OpenApiExample(
                        "Banned",
                        value={
                            "player_id": "p123",
                            "banned": True,
                            "reason": "speed hack",
                            "banned_at": "2026-11-23T12:00:01.234567Z",
                        },
                    )
                ],
            ),
            400: validation_error({"reason": ["This field may not be blank."]}),
            403: API_KEY_MISSING,
            404: not_found("No player 'p404'."),
        },
        examples=[OpenApiExample("A ban", request_only=True, value={"reason": "speed hack"})],
    )
    def post(self, request: Request, player_id: str) -> HttpResponse:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        player = player_ban(
            player_id=player_id,
            reason=body.validated_data["reason"],
            actor=request_actor(request),
        )
        return json_response(request, _ban_state(player))

    @extend_schema(
        operation_id="players_unban",
        summary="Lift a player's ban",
        description=(
            "Every board shows the player again with everything they scored, before and "
            "during the ban, finalised boards included. Idempotent. Needs an API key with "
            "`players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=[docs.PLAYER_ID],
        responses={
            204: OpenApiResponse(description="Not banned (any more)."),
            403: API_KEY_MISSING,
            404: not_found("No player 'p404'."),
        },
    )
    def delete(self, request: Request, player_id: str) -> Response:
        player_unban(player_id=player_id, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoardPlayerApi(boards.BoardPlayerApi):
    """A player on a board: GET their rank and score (public: boards.BoardPlayerApi), DELETE
    removes their score from this board only (`players:moderate`)."""

    api_key_scope = Scope.PLAYERS_MODERATE  # for DELETE; reads need no key

    @extend_schema_serializer(component_name="ScoreRemoval")
    class RemoveInputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=REASON_MAX_LENGTH,
            required=False,
            allow_blank=True,
            help_text=f"Why, at most {REASON_MAX_LENGTH} characters; kept in the audit log.",
        )

    @extend_schema(
        operation_id="boards_players_score_remove",
        summary="Remove a player's score from one board",
        description=(
            "The player's events stamped up to now no longer count on this board; events "
            "stamped later count from zero. Other boards, and the events themselves, are "
            "untouched. On a finalised board the player's final row goes and the others "
            "close up. A second removal moves the cut-off on. Audited. Needs an API key "
            "with `players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=[docs.BOARD_SLUG, docs.PLAYER_ID],
        request=RemoveInputSerializer,
        responses={
            204: OpenApiResponse(description="Removed."),
            400: validation_error(
                {"reason": ["Ensure this field has no more than 500 characters."]}
            ),
            403: API_KEY_MISSING,
            404: not_found("Player 'p404' has no score on board 'weekly-2026-w48'."),
        },
        examples=[
            OpenApiExample("A removal", request_only=True, value={"reason": "score from a bug"})
        ],
    )
    def delete(self, request: Request, slug: str, player_id: str) -> Response:
        body = self.RemoveInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        board_score_remove(
            board_slug=slug,
            player_id=player_id,
            reason=body.validated_data.get("reason", ""),
            actor=request_actor(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
