"""A player's data, exported (issue 21): `GET /players/{player_id}/export/`, behind the
`players:moderate` scope and audited. A shell over leaderboards/player_export.py, which
streams it. (The erasure is the profile's `DELETE`, players.py.)"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from access.models import Scope
from access.permissions import HasScopedApiKey
from config.openapi import API_KEY_AUTH, API_KEY_MISSING, not_found
from leaderboards.api import openapi as docs
from leaderboards.api.moderation import request_actor
from leaderboards.player_export import player_export

EXPORT_EXAMPLE = {
    "player": {
        "player_id": "p123",
        "display_name": "Ada",
        "metadata": {"country": "NZ"},
        "created_at": "2026-11-02T09:14:03.120Z",
    },
    "ban": {"banned": False, "reason": None, "banned_at": None},
    "boards": [{"board": "weekly-2026-w48", "rank": 3, "score": 1450}],
    "final_standings": [
        {
            "board": "weekly-2026-w47",
            "finalized_at": "2026-11-23T01:00:00Z",
            "rank": 12,
            "position": 12,
            "score": 880,
        }
    ],
    "participations": [{"board": "cup", "joined_at": "2026-11-20T18:00:00Z"}],
    "league_places": [{"board": "league-w48", "bucket": 2, "position": 57}],
    "moderation": [
        {"action": "export", "reason": "", "board": "", "created_at": "2026-11-25T10:00:00Z"}
    ],
    "events": [
        {
            "dedupe_key": "2f0c6c1e-0d0a-4b5e-93b5-8a7c1b2d3e4f",
            "metric": "score",
            "delta": 50,
            "created_at": "2026-11-22T12:00:00.123Z",
            "ingested_at": "2026-11-22T12:00:00.201Z",
        }
    ],
}


class PlayerExportApi(APIView):
    """Everything held on a player, as JSON, streamed. Private: needs `players:moderate`."""

    permission_classes = [HasScopedApiKey]
    api_key_scope = Scope.PLAYERS_MODERATE

    @extend_schema(
        operation_id="players_export",
        summary="Everything held on a player",
        description=(
            "The profile, the ban, the rank and score on every live board, final standings, "
            "participations, league places, the moderation entries naming the player, and "
            "every stored event (its dedupe key, metric, delta, created_at, ingested_at), "
            "oldest first. Streamed: a player with millions of events is exported without "
            "holding them in memory. Recorded in the audit log. Needs an API key with "
            "`players:moderate`."
        ),
        auth=API_KEY_AUTH,  # type: ignore[arg-type]  # the stub says names; dicts work
        parameters=[docs.PLAYER_ID],
        responses={
            200: OpenApiResponse(
                {"type": "object"},
                description="The export, as one JSON object.",
                examples=[OpenApiExample("An export", value=EXPORT_EXAMPLE)],
            ),
            403: API_KEY_MISSING,
            404: not_found("No player 'p404'."),
        },
    )
    def get(self, request: Request, player_id: str) -> StreamingHttpResponse:
        export = player_export(player_id=player_id, actor=request_actor(request))
        response = StreamingHttpResponse(export.chunks(), content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="player-export.json"'
        return response
