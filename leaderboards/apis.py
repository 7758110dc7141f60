"""The read API of boards (and board creation): thin views over leaderboards.selectors.

Ranks are competition ranks (rank = 1 + the number of players with a strictly better
score); within a tie, players are ordered by external id, byte-wise.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    BOARD_NOT_FOUND,
    EXAMPLE_BASE_URL,
    LIST_PAGE_PARAMETERS,
    not_found,
    page_example,
    page_of,
    validation_error,
)
from config.pagination import MAX_PAGE_SIZE, Pagination, paginated_response
from leaderboards.models import METRIC_MAX_LENGTH, METRIC_PATTERN, Aggregation, Board, SortOrder
from leaderboards.selectors import (
    board_around,
    board_entries,
    board_ranks,
    window_entries,
)
from leaderboards.services import board_create
from leaderboards.standings import Window
from players.models import PLAYER_ID_MAX_LENGTH

DEFAULT_PAGE_SIZE = 50
MAX_AROUND = 100
MAX_PLAYERS_PER_RANKS_REQUEST = 1000
# The metric names events may carry (RegexField searches, so anchor the contract's pattern).
METRIC_REGEX = rf"^(?:{METRIC_PATTERN.pattern})\Z"


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a naive time is ambiguous."""

    default_error_messages = {
        "naive": "Give a time zone offset, e.g. 2026-01-01T00:00:00Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well formed but impossible, e.g. minute 99
                parsed = None  # DateTimeField reports it as invalid
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


@extend_schema_serializer(component_name="Entry")
class EntryOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    player_id = serializers.CharField()
    display_name = serializers.CharField()
    score = serializers.IntegerField()


class PageFilterSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
    )
    offset = serializers.IntegerField(min_value=0, default=0)


def _entries_response(request, *, count: int, entries: list, offset: int, limit: int):
    paginator = Pagination()
    paginator.paginate_counted(request, count=count, offset=offset, limit=limit)
    return paginator.get_paginated_response(EntryOutputSerializer(entries, many=True).data)


def _board(slug: str) -> Board:
    return get_object_or_404(Board, slug=slug)


# -- OpenAPI examples ----------------------------------------------------------------------

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
    "status": "live",
    "finalized_at": None,
    "series": "weekly",
    "url": f"{EXAMPLE_BASE_URL}/leaderboards/weekly-2026-w48/",
    "entries_url": f"{EXAMPLE_BASE_URL}/leaderboards/weekly-2026-w48/entries/",
}
BOARD_SLUG = OpenApiParameter(
    "slug",
    str,
    OpenApiParameter.PATH,
    description="The board's slug.",
    pattern=r"^[-a-zA-Z0-9_]+$",
    examples=[OpenApiExample("Weekly", value="weekly-2026-w48")],
)
ENTRY_PAGE = page_of("EntryPage", EntryOutputSerializer(many=True))
ENTRY_PAGE_EXAMPLE = OpenApiExample(
    "First page",
    summary="First page (scores 980, 870, 870 rank 1, 2, 2)",
    value=page_example(
        "leaderboards/weekly-2026-w48/entries/", ENTRIES_EXAMPLE, count=1234, limit=3
    ),
)


@extend_schema_serializer(component_name="Board")
def created_or_400(create, data: dict, *, conflict: str):
    """Run a create service; its validation errors, and a lost race for the same slug after
    the uniqueness check, become 400 answers naming the field."""
    try:
        return create(**data)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc
    except IntegrityError as exc:
        raise serializers.ValidationError({"slug": [conflict]}) from exc


class BoardOutputSerializer(serializers.ModelSerializer):
    series = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-board-detail", lookup_field="slug")
    entries_url = serializers.HyperlinkedIdentityField(
        view_name="api-board-entries", lookup_field="slug"
    )

    class Meta:
        model = Board
        fields = [
            "slug",
            "name",
            "metric",
            "starts_at",
            "ends_at",
            "aggregation",
            "sort_order",
            "status",
            "finalized_at",
            "series",
            "url",
            "entries_url",
        ]


BOARD_PAGE = page_of("BoardPage", BoardOutputSerializer(many=True))


class BoardListApi(APIView):
    """GET: every board, newest window first. POST (API key): create a board."""

    @extend_schema_serializer(component_name="BoardCreate")
    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=100)
        name = serializers.CharField(max_length=200)
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        starts_at = AwareDateTimeField()
        ends_at = AwareDateTimeField(allow_null=True, default=None)
        aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
        sort_order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")

        def validate(self, attrs):
            if attrs["ends_at"] is not None and attrs["ends_at"] <= attrs["starts_at"]:
                raise serializers.ValidationError(
                    {"ends_at": "Must be after starts_at (the window is [starts_at, ends_at))."}
                )
            return attrs

    OutputSerializer = BoardOutputSerializer

    @extend_schema(
        operation_id="boards_list",
        summary="List boards",
        description="Every board, newest window first.",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                BOARD_PAGE,
                description="One page of boards.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example("leaderboards/", [BOARD_EXAMPLE], count=12, limit=1),
                    )
                ],
            )
        },
    )
    def get(self, request):
        return paginated_response(request, self, Board.objects.all(), self.OutputSerializer)

    @extend_schema(
        operation_id="boards_create",
        summary="Create a board",
        description=(
            "A one-off window `[starts_at, ends_at)` over a metric; leave `ends_at` out (or "
            "null) for an all-time board. Needs an API key."
        ),
        auth=API_KEY_AUTH,
        request=InputSerializer,
        responses={
            201: OpenApiResponse(BoardOutputSerializer, description="The new board."),
            400: validation_error({"slug": ["Board with this Slug already exists."]}),
            403: API_KEY_MISSING,
        },
        examples=[
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
                summary="Fastest lap of all time (lowest first)",
                request_only=True,
                value={
                    "slug": "fastest-lap",
                    "name": "Fastest lap",
                    "metric": "lap_ms",
                    "starts_at": "2026-01-01T00:00:00Z",
                    "aggregation": "min",
                    "sort_order": "asc",
                },
            ),
            OpenApiExample("Created", response_only=True, status_codes=[201], value=BOARD_EXAMPLE),
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        board = created_or_400(
            board_create, serializer.validated_data, conflict="Board with this Slug already exists."
        )
        data = self.OutputSerializer(board, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class BoardDetailApi(APIView):
    OutputSerializer = BoardOutputSerializer

    @extend_schema(
        operation_id="boards_retrieve",
        summary="One board",
        parameters=[BOARD_SLUG],
        responses={
            200: OpenApiResponse(
                BoardOutputSerializer,
                description="The board.",
                examples=[OpenApiExample("A live weekly board", value=BOARD_EXAMPLE)],
            ),
            404: BOARD_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = _board(slug)
        return Response(self.OutputSerializer(board, context={"request": request}).data)


class BoardEntriesApi(APIView):
    """One page of a board, best first: {count, next, previous, results}."""

    class FilterSerializer(PageFilterSerializer):
        pass

    @extend_schema(
        operation_id="boards_entries_list",
        summary="A board's entries, best first",
        description=(
            "Competition ranks: rank = 1 + the number of players with a strictly better "
            "score; within a tie, players are ordered by external id, byte-wise."
        ),
        parameters=[BOARD_SLUG, FilterSerializer],
        responses={
            200: OpenApiResponse(
                ENTRY_PAGE, description="One page of entries.", examples=[ENTRY_PAGE_EXAMPLE]
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            404: BOARD_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = _board(slug)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        offset, limit = filters.validated_data["offset"], filters.validated_data["limit"]
        count, entries = board_entries(board, offset=offset, limit=limit)
        return _entries_response(request, count=count, entries=entries, offset=offset, limit=limit)


class BoardPlayerApi(APIView):
    """A player's rank and score; with ?around=N also N neighbours each side."""

    class FilterSerializer(serializers.Serializer):
        around = serializers.IntegerField(min_value=0, max_value=MAX_AROUND, required=False)

    @extend_schema_serializer(component_name="PlayerStanding")
    class OutputSerializer(serializers.Serializer):
        player_id = serializers.CharField()
        display_name = serializers.CharField()
        rank = serializers.IntegerField()
        score = serializers.IntegerField()

    @extend_schema(
        operation_id="boards_players_retrieve",
        summary="A player's rank and score",
        description=(
            "With `?around=N`, also `around`: up to N entries either side of the player, "
            "the player included, best first."
        ),
        parameters=[
            BOARD_SLUG,
            OpenApiParameter(
                "player_id",
                str,
                OpenApiParameter.PATH,
                description="The player's external id (URL-encoded).",
                examples=[OpenApiExample("Grace", value="p77")],
            ),
            FilterSerializer,
        ],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "PlayerStandingAround",
                    fields={
                        **OutputSerializer().get_fields(),
                        "around": EntryOutputSerializer(
                            many=True,
                            required=False,
                            help_text="Present only with ?around=N.",
                        ),
                    },
                ),
                description="The player's standing.",
                examples=[
                    OpenApiExample(
                        "Rank and score",
                        value={
                            "player_id": "p77",
                            "display_name": "Grace",
                            "rank": 2,
                            "score": 870,
                        },
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
                ],
            ),
            400: validation_error({"around": ["Ensure this value is less than or equal to 100."]}),
            404: not_found("Player 'p404' has no score on board 'weekly-2026-w48'."),
        },
    )
    def get(self, request, slug: str, player_id: str):
        board = _board(slug)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        around = filters.validated_data.get("around")
        # No stored id holds a NUL (ingestion refuses them), and PostgreSQL text cannot.
        entries = (
            [] if "\x00" in player_id else board_around(board, player_id=player_id, n=around or 0)
        )
        me = next((entry for entry in entries if entry.player_id == player_id), None)
        if me is None:
            raise NotFound(f"Player {player_id!r} has no score on board {board.slug!r}.")
        data = dict(self.OutputSerializer(me).data)
        if around is not None:
            data["around"] = EntryOutputSerializer(entries, many=True).data
        return Response(data)


class BoardRanksApi(APIView):
    """Ranks of a list of players (a friends board). A read, so no API key is needed even
    though the list travels in a POST body."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="RanksQuery")
    class InputSerializer(serializers.Serializer):
        player_ids = serializers.ListField(
            child=serializers.CharField(max_length=PLAYER_ID_MAX_LENGTH, trim_whitespace=False),
            min_length=1,
            max_length=MAX_PLAYERS_PER_RANKS_REQUEST,
        )

    @extend_schema_serializer(component_name="Ranks")
    class OutputSerializer(serializers.Serializer):
        results = EntryOutputSerializer(many=True, help_text="Players with a score, best first.")
        missing = serializers.ListField(
            child=serializers.CharField(), help_text="Players with no score on the board."
        )

    @extend_schema(
        operation_id="boards_ranks",
        summary="Ranks of a list of players (friends)",
        description="A read: no API key needed, although the list travels in a POST body.",
        parameters=[BOARD_SLUG],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(OutputSerializer, description="Ranks of the players found."),
            400: validation_error({"player_ids": ["This list may not be empty."]}),
            404: BOARD_NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "Friends", request_only=True, value={"player_ids": ["p9", "p123", "nobody"]}
            ),
            OpenApiExample(
                "Ranks",
                summary="Friends' ranks",
                response_only=True,
                status_codes=[200],
                value={
                    "results": [ENTRIES_EXAMPLE[0], ENTRIES_EXAMPLE[2]],
                    "missing": ["nobody"],
                },
            ),
        ],
    )
    def post(self, request, slug: str):
        board = _board(slug)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        player_ids = list(dict.fromkeys(serializer.validated_data["player_ids"]))
        entries = board_ranks(board, player_ids=player_ids)
        found = {entry.player_id for entry in entries}
        missing = [player_id for player_id in player_ids if player_id not in found]
        return Response(self.OutputSerializer({"results": entries, "missing": missing}).data)


class StandingsApi(APIView):
    """Standings of a metric over any time range [from, to), from the delta log."""

    class FilterSerializer(PageFilterSerializer):
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        from_ = AwareDateTimeField()
        to = AwareDateTimeField(required=False, allow_null=True, default=None)
        aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
        order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")

        def get_fields(self):
            # `from` is a Python keyword, so the field is declared as `from_`.
            fields = super().get_fields()
            fields["from"] = fields.pop("from_")
            return fields

        def validate(self, attrs):
            if attrs["to"] is not None and attrs["to"] <= attrs["from"]:
                raise serializers.ValidationError(
                    {"to": "Must be after from (the range is [from, to))."}
                )
            return attrs

    @extend_schema(
        operation_id="standings_list",
        summary="Standings of a metric over any time range",
        description=(
            "Ranks players by their deltas of `metric` stamped in `[from, to)` (`to` open "
            "when left out), aggregated and ordered as asked; the same ranking rules as "
            "boards."
        ),
        parameters=[FilterSerializer],
        responses={
            200: OpenApiResponse(
                ENTRY_PAGE,
                description="One page of standings.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example(
                            "standings/?metric=score&from=2026-11-23T00:00:00Z",
                            ENTRIES_EXAMPLE,
                            count=1234,
                            limit=3,
                        ),
                    )
                ],
            ),
            400: validation_error({"from": ["This field is required."]}),
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        window = Window(
            metric=params["metric"],
            starts_at=params["from"],
            ends_at=params["to"],
            aggregation=params["aggregation"],
            sort_order=params["order"],
        )
        offset, limit = params["offset"], params["limit"]
        count, entries = window_entries(window, offset=offset, limit=limit)
        return _entries_response(request, count=count, entries=entries, offset=offset, limit=limit)
