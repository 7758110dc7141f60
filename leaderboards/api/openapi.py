"""The OpenAPI documentation of the board and series APIs (drf-spectacular): examples,
path parameters and page bodies, kept apart so that each view reads top to bottom.
Documentation only: nothing here takes part in serving a request."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, inline_serializer
from rest_framework import serializers

from config.openapi import EXAMPLE_BASE_URL, not_found, page_example, page_of
from leaderboards.api.serializers import (
    BoardOutputSerializer,
    EntryOutputSerializer,
    ParticipantOutputSerializer,
    SeriesOutputSerializer,
)

ENTRIES_EXAMPLE = [
    {"rank": 1, "player_id": "p123", "display_name": "Ada", "score": 980},
    {"rank": 2, "player_id": "p77", "display_name": "Grace", "score": 870},
    {"rank": 2, "player_id": "p9", "display_name": "Linus", "score": 870},
]
BOARD_EXAMPLE = {
    "slug": "weekly-2026-w48",
    "name": "Weekly, 23 to 29 November 2026",
    "metric": "score",
    "starts_at": "2026-11-23T00:00:00Z",
    "ends_at": "2026-11-30T00:00:00Z",
    "aggregation": "sum",
    "sort_order": "desc",
    "tie_break": "player_id",
    "join_required": False,
    "max_participants": None,
    "max_attempts": None,
    "bucket_size": None,
    "status": "live",
    "finalized_at": None,
    "series": "weekly",
    "url": f"{EXAMPLE_BASE_URL}/leaderboards/weekly-2026-w48/",
    "entries_url": f"{EXAMPLE_BASE_URL}/leaderboards/weekly-2026-w48/entries/",
}
SERIES_EXAMPLE = {
    "slug": "weekly",
    "name": "Weekly",
    "metric": "score",
    "period": "weekly",
    "reset_time": "02:00",
    "reset_weekday": 0,
    "timezone": "Europe/Berlin",
    "aggregation": "sum",
    "sort_order": "desc",
    "tie_break": "player_id",
    "join_required": False,
    "max_participants": None,
    "max_attempts": None,
    "bucket_size": None,
    "url": f"{EXAMPLE_BASE_URL}/series/weekly/",
    "current_url": f"{EXAMPLE_BASE_URL}/series/weekly/current/",
    "boards_url": f"{EXAMPLE_BASE_URL}/series/weekly/boards/",
}

# -- parameters -------------------------------------------------------------------------

BOARD_SLUG = OpenApiParameter(
    "slug",
    str,
    OpenApiParameter.PATH,
    description="The board's slug.",
    pattern=r"^[-a-zA-Z0-9_]+$",
    examples=[OpenApiExample("Weekly", value="weekly-2026-w48")],
)
PLAYER_ID = OpenApiParameter(
    "player_id",
    str,
    OpenApiParameter.PATH,
    description="The player's external id (URL-encoded).",
    examples=[OpenApiExample("Grace", value="p77")],
)

# -- bodies -----------------------------------------------------------------------------

ENTRY_PAGE = page_of("EntryPage", EntryOutputSerializer(many=True))
PARTICIPANT_EXAMPLE = {
    "player_id": "p77",
    "display_name": "Grace",
    "joined_at": "2026-11-23T09:12:00.123000Z",
}
BOARD_PAGE = page_of("BoardPage", BoardOutputSerializer(many=True))
SERIES_PAGE = page_of("SeriesPage", SeriesOutputSerializer(many=True))
PLAYER_STANDING_AROUND = inline_serializer(
    "PlayerStandingAround",
    fields={
        **EntryOutputSerializer().get_fields(),
        "around": EntryOutputSerializer(
            many=True, required=False, help_text="Present only with ?around=N."
        ),
    },
)
PLAYER_BUCKET = inline_serializer(
    "PlayerBucket",
    fields={
        "bucket": serializers.IntegerField(min_value=1, help_text="From 1."),
        "count": serializers.IntegerField(min_value=0, help_text="Players ranked in it."),
        "results": EntryOutputSerializer(many=True, help_text="Ranked among themselves."),
    },
)
PLAYER_BUCKET_EXAMPLE = {"bucket": 3, "count": 3, "results": ENTRIES_EXAMPLE}
SERIES_NOT_FOUND = not_found("No Series matches the given query.")

# -- examples ---------------------------------------------------------------------------

ENTRY_PAGE_EXAMPLE = OpenApiExample(
    "First page",
    summary="First page (scores 980, 870, 870 rank 1, 2, 2)",
    value=page_example(
        "leaderboards/weekly-2026-w48/entries/", ENTRIES_EXAMPLE, count=1234, limit=3
    ),
)
BOARD_PAGE_EXAMPLE = OpenApiExample(
    "First page", value=page_example("leaderboards/", [BOARD_EXAMPLE], count=12, limit=1)
)
BOARD_CREATE_EXAMPLES = [
    OpenApiExample(
        "A weekly board",
        request_only=True,
        value={
            "slug": "weekly-2026-w48",
            "name": "Weekly, 23 to 29 November 2026",
            "metric": "score",
            "starts_at": "2026-11-23T00:00:00Z",
            "ends_at": "2026-11-30T00:00:00Z",
        },
    ),
    OpenApiExample(
        "All-time lowest",
        summary="Fastest lap of all time (lowest first; equal times: who set it first)",
        request_only=True,
        value={
            "slug": "fastest-lap",
            "name": "Fastest lap",
            "metric": "lap_ms",
            "starts_at": "2026-01-01T00:00:00Z",
            "aggregation": "min",
            "sort_order": "asc",
            "tie_break": "earliest",
        },
    ),
    OpenApiExample(
        "Tournament",
        summary="A weekend cup: 64 places, the best of three attempts counts",
        request_only=True,
        value={
            "slug": "cup",
            "name": "Weekend cup",
            "starts_at": "2026-11-28T00:00:00Z",
            "ends_at": "2026-11-30T00:00:00Z",
            "aggregation": "max",
            "join_required": True,
            "max_participants": 64,
            "max_attempts": 3,
        },
    ),
    OpenApiExample("Created", response_only=True, status_codes=[201], value=BOARD_EXAMPLE),
]
PLAYER_STANDING_EXAMPLES = [
    OpenApiExample(
        "Rank and score",
        value={"player_id": "p77", "display_name": "Grace", "rank": 2, "score": 870},
    ),
    OpenApiExample(
        "With neighbours",
        summary="With neighbours (?around=1)",
        value={
            "player_id": "p77",
            "display_name": "Grace",
            "rank": 2,
            "score": 870,
            "around": ENTRIES_EXAMPLE,
        },
    ),
]
RANKS_EXAMPLES = [
    OpenApiExample("Friends", request_only=True, value={"player_ids": ["p9", "p123", "nobody"]}),
    OpenApiExample(
        "Ranks",
        summary="Friends' ranks",
        response_only=True,
        status_codes=[200],
        value={"results": [ENTRIES_EXAMPLE[0], ENTRIES_EXAMPLE[2]], "missing": ["nobody"]},
    ),
]
STANDINGS_PAGE_EXAMPLE = OpenApiExample(
    "First page",
    value=page_example(
        "standings/?metric=score&from=2026-11-23T00:00:00Z", ENTRIES_EXAMPLE, count=1234, limit=3
    ),
)
PARTICIPANT_PAGE = page_of("ParticipantPage", ParticipantOutputSerializer(many=True))
PARTICIPANT_PAGE_EXAMPLE = OpenApiExample(
    "First page",
    value=page_example("leaderboards/cup/participants/", [PARTICIPANT_EXAMPLE], count=40, limit=1),
)
SERIES_PAGE_EXAMPLE = OpenApiExample(
    "First page", value=page_example("series/", [SERIES_EXAMPLE], count=3, limit=1)
)
SERIES_CREATE_EXAMPLES = [
    OpenApiExample(
        "Weekly",
        summary="Weekly, from Monday 02:00 Berlin time",
        request_only=True,
        value={
            "slug": "weekly",
            "name": "Weekly",
            "period": "weekly",
            "reset_time": "02:00",
            "reset_weekday": 0,
            "timezone": "Europe/Berlin",
        },
    ),
    OpenApiExample("Created", response_only=True, status_codes=[201], value=SERIES_EXAMPLE),
]
SERIES_BOARDS_PAGE_EXAMPLE = OpenApiExample(
    "First page",
    value=page_example("series/weekly/boards/", [BOARD_EXAMPLE], count=9, limit=1),
)

# -- player profiles ---------------------------------------------------------------------

PROFILE_EXAMPLE = {
    "player_id": "p123",
    "display_name": "Ada",
    "metadata": {"country": "NZ", "avatar": "fox-3"},
    "created_at": "2026-11-02T09:14:03.120000Z",
    "boards": [
        {"board": "daily-2026-12-01", "rank": 4, "score": 1250},
        {"board": "all-time", "rank": 88, "score": 91200},
    ],
}

PROFILE = OpenApiExample("A named player", value=PROFILE_EXAMPLE, response_only=True)
