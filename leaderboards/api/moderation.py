"""The moderation API (issue 21), behind the `players:moderate` scope: the audit log, and
the actions it records. Views are shells over leaderboards/moderation.py and
players/audit.py."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import HasScopedApiKey, request_api_key
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    LIST_PAGE_PARAMETERS,
    page_example,
    page_of,
)
from config.pagination import paginated_response
from players.audit import Actor, audit_entries
from players.models import AuditEntry


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
