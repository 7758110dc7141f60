"""Pieces of the OpenAPI schema (drf-spectacular) that the API modules share: API key
security, paged list bodies, error bodies, and the plain Django views under /api/v1/.
Documentation only: none of it takes part in serving an API request."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema_serializer,
)
from rest_framework import serializers

from config.pagination import PageFilterSerializer

# The `auth` of an operation that needs an API key; the scheme itself is declared in
# SPECTACULAR_SETTINGS["APPEND_COMPONENTS"] (settings cannot import this module).
API_KEY_AUTH = [{"ApiKeyAuth": []}]

EXAMPLE_BASE_URL = "https://leaderboards.example.com/api/v1"


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    """Every error body without fields: 401/403/404, 400s about the whole request, 503."""

    detail = serializers.CharField()


def page_of(name: str, child: serializers.Serializer) -> serializers.Serializer:
    """The body of one page of a limit/offset list: {count, next, previous, results}."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(min_value=0, help_text="Items in the whole list."),
            "next": serializers.URLField(allow_null=True, help_text="The next page, if any."),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page, if any."
            ),
            "results": child,
            "__module__": __name__,
        },
    )()


def page_example(path: str, results: list, *, count: int, limit: int) -> dict:
    """A first page, as the API renders it."""
    joiner = "&" if "?" in path else "?"
    return {
        "count": count,
        "next": f"{EXAMPLE_BASE_URL}/{path}{joiner}limit={limit}&offset={limit}"
        if count > limit
        else None,
        "previous": None,
        "results": results,
    }


# The paging parameters of every list.
LIST_PAGE_PARAMETERS = [PageFilterSerializer]


# The body of every 400 that names fields (config/exceptions.py makes services' errors
# look the same), as one component; every other error body is `Error`.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Each offending field (or `non_field_errors`) maps to a list of messages; a "
        "body that is not valid JSON gets `detail` instead."
    ),
    "additionalProperties": True,
}


def validation_error(example: dict) -> OpenApiResponse:
    """A 400 in DRF's shape, with an example of this operation's own."""
    return OpenApiResponse(
        response={"$ref": "#/components/schemas/ValidationError"},
        description="Invalid input.",
        examples=[OpenApiExample("Invalid input", value=example)],
    )


API_KEY_MISSING = OpenApiResponse(
    response=ErrorSerializer,
    description="No valid API key, or one without the scope this needs.",
    examples=[
        OpenApiExample(
            "No API key",
            value={
                "detail": "This needs an API key: send the header 'Authorization: Api-Key <key>'."
            },
        ),
        OpenApiExample(
            "A key without the scope",
            value={"detail": "This API key lacks the scope 'events:write'."},
        ),
    ],
)

# Every API operation may answer 429 (config/throttling.py); add_plain_views adds it.
THROTTLED = {
    "description": "Too many requests from this client (reads) or API key (writes).",
    "headers": {
        "Retry-After": {
            "description": "Seconds until the client may send again.",
            "schema": {"type": "integer"},
        }
    },
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/Error"},
            "example": {"detail": "Request was throttled. Expected available in 12 seconds."},
        }
    },
}


def not_found(detail: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description="Not found.",
        examples=[OpenApiExample("Not found", value={"detail": detail})],
    )


BOARD_NOT_FOUND = not_found("No Board matches the given query.")


BOARD_SLUG_SCHEMA = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
PLAIN_VIEW_PATHS = {
    "/api/v1/leaderboards/{slug}/entries.csv": {
        "get": {
            "operationId": "boards_entries_csv",
            "summary": "A board's whole standings as CSV",
            "description": "Every entry, best first, streamed as "
            "`rank,player_id,display_name,score` lines (UTF-8). A player id or display name "
            "starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` "
            "so that spreadsheets show it as text instead of running it as a formula; ranks "
            "and scores are plain numbers.",
            "tags": ["leaderboards"],
            "parameters": [
                {
                    "in": "path",
                    "name": "slug",
                    "required": True,
                    "schema": BOARD_SLUG_SCHEMA,
                    "description": "The board's slug.",
                    "examples": {"Weekly": {"value": "weekly-2026-w48"}},
                }
            ],
            "responses": {
                "200": {
                    "description": "The standings, as a download (Content-Disposition).",
                    "content": {
                        "text/csv": {
                            "schema": {"type": "string"},
                            "examples": {
                                "Standings": {
                                    "value": "rank,player_id,display_name,score\r\n"
                                    "1,p123,Ada,980\r\n2,p77,Grace,870\r\n2,p9,Linus,870\r\n"
                                }
                            },
                        }
                    },
                },
                "404": {
                    "description": "No such board (the site's HTML 404 page).",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
            },
        }
    }
}


def add_plain_views(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook (SPECTACULAR_SETTINGS): documents the API's
    plain Django views, which the generator only finds among DRF views, the
    ValidationError body that validation_error() refers to, and the 429 of the rate
    limits."""
    result.setdefault("paths", {}).update(PLAIN_VIEW_PATHS)
    for operations in result["paths"].values():
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault("429", THROTTLED)
    result.setdefault("components", {}).setdefault("schemas", {})["ValidationError"] = (
        VALIDATION_ERROR_SCHEMA
    )
    return result
