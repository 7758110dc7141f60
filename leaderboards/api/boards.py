"""The API of boards: list, create and read them, their entries, a player's standing, the
ranks of a list of players, and standings over any time range. Thin views over
leaderboards/selectors.py and leaderboards/services.py; their documentation's examples are
in leaderboards/api/openapi.py.

Ranks are competition ranks (rank = 1 + the number of players with a strictly better
score), within a tie players ordered by external id, byte-wise; or, on a board whose
`tie_break` is `earliest`, ordinal ranks with ties going to whoever reached the score first
(leaderboards/ranking.py).
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    BOARD_NOT_FOUND,
    LIST_PAGE_PARAMETERS,
    not_found,
    validation_error,
)
from config.pagination import (
    PageFilterSerializer,
    counted_page_response,
    paginated_response,
)
from config.renderers import json_response
from leaderboards.api import openapi as docs
from leaderboards.api.response_cache import micro_cached
from leaderboards.api.serializers import (
    METRIC_REGEX,
    BoardOutputSerializer,
    EntryOutputSerializer,
    RulesInputSerializer,
    WindowInstantField,
    validated_input,
)
from leaderboards.cache.catalog import catalog
from leaderboards.models import (
    METRIC_MAX_LENGTH,
    TIE_BREAK_HELP,
    Aggregation,
    Board,
    SortOrder,
    TieBreak,
)
from leaderboards.ranking import Window
from leaderboards.selectors import board_around, board_entries, board_ranks, window_entries
from leaderboards.services import board_create
from players.models import PLAYER_ID_MAX_LENGTH

MAX_AROUND = 100
MAX_PLAYERS_PER_RANKS_REQUEST = 1000


class BoardListApi(APIView):
    """GET: every board, newest window first. POST (API key): create a board."""

    api_key_scope = Scope.BOARDS_WRITE

    @extend_schema_serializer(component_name="BoardCreate")
    class InputSerializer(RulesInputSerializer):
        slug = serializers.SlugField(max_length=100)
        name = serializers.CharField(max_length=200)
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        starts_at = WindowInstantField()
        ends_at = WindowInstantField(allow_null=True, default=None)

    OutputSerializer = BoardOutputSerializer

    @extend_schema(
        operation_id="boards_list",
        summary="List boards",
        description="Every board, newest window first.",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                docs.BOARD_PAGE,
                description="One page of boards.",
                examples=[docs.BOARD_PAGE_EXAMPLE],
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
        examples=docs.BOARD_CREATE_EXAMPLES,
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        board = board_create(**serializer.validated_data)
        data = self.OutputSerializer(board, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class BoardDetailApi(APIView):
    OutputSerializer = BoardOutputSerializer

    @extend_schema(
        operation_id="boards_retrieve",
        summary="One board",
        parameters=[docs.BOARD_SLUG],
        responses={
            200: OpenApiResponse(
                BoardOutputSerializer,
                description="The board.",
                examples=[OpenApiExample("A live weekly board", value=docs.BOARD_EXAMPLE)],
            ),
            404: BOARD_NOT_FOUND,
        },
    )
    @micro_cached
    def get(self, request, slug: str):
        board = catalog.board(slug)
        return json_response(
            request, self.OutputSerializer(board, context={"request": request}).data
        )


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
        parameters=[docs.BOARD_SLUG, FilterSerializer],
        responses={
            200: OpenApiResponse(
                docs.ENTRY_PAGE,
                description="One page of entries.",
                examples=[docs.ENTRY_PAGE_EXAMPLE],
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            404: BOARD_NOT_FOUND,
        },
    )
    @micro_cached
    def get(self, request, slug: str):
        board = catalog.board(slug)
        query = validated_input(self.FilterSerializer, request.query_params)
        offset, limit = query["offset"], query["limit"]
        count, entries = board_entries(board, offset=offset, limit=limit)
        # Entries are rendered as they are (config/renderers.py): EntryOutputSerializer
        # documents their shape.
        return counted_page_response(
            request, count=count, offset=offset, limit=limit, results=entries
        )


class BoardPlayerApi(APIView):
    """A player's rank and score; with ?around=N also N neighbours each side."""

    class FilterSerializer(serializers.Serializer):
        around = serializers.IntegerField(min_value=0, max_value=MAX_AROUND, required=False)

    OutputSerializer = EntryOutputSerializer

    @extend_schema(
        operation_id="boards_players_retrieve",
        summary="A player's rank and score",
        description=(
            "With `?around=N`, also `around`: up to N entries either side of the player, "
            "the player included, best first."
        ),
        parameters=[docs.BOARD_SLUG, docs.PLAYER_ID, FilterSerializer],
        responses={
            200: OpenApiResponse(
                docs.PLAYER_STANDING_AROUND,
                description="The player's standing.",
                examples=docs.PLAYER_STANDING_EXAMPLES,
            ),
            400: validation_error({"around": ["Ensure this value is less than or equal to 100."]}),
            404: not_found("Player 'p404' has no score on board 'weekly-2026-w48'."),
        },
    )
    def get(self, request, slug: str, player_id: str):
        board = catalog.board(slug)
        around = validated_input(self.FilterSerializer, request.query_params).get("around")
        # No stored id holds a NUL (ingestion refuses them), and PostgreSQL text cannot.
        entries = (
            [] if "\x00" in player_id else board_around(board, player_id=player_id, n=around or 0)
        )
        me = next((entry for entry in entries if entry.player_id == player_id), None)
        if me is None:
            raise NotFound(f"Player {player_id!r} has no score on board {board.slug!r}.")
        if around is None:
            return json_response(request, me)  # an Entry renders as the documented object
        return json_response(
            request,
            {
                "rank": me.rank,
                "player_id": me.player_id,
                "display_name": me.display_name,
                "score": me.score,
                "around": entries,
            },
        )


class PlayerIdListField(serializers.ListField):
    """A list of player ids. The usual list (ASCII ids, none empty, none too long) passes in
    one sweep; any other goes item by item through the child field, whose errors are the
    API's. DRF's per-item path runs a field's validation and its validators for each of up
    to 1,000 ids."""

    def to_internal_value(self, data):
        if isinstance(data, list) and all(
            type(item) is str
            and 0 < len(item) <= PLAYER_ID_MAX_LENGTH
            and item.isascii()
            and "\x00" not in item
            for item in data
        ):
            return data
        return super().to_internal_value(data)


class BoardRanksApi(APIView):
    """Ranks of a list of players (a friends board). A read, so no API key is needed even
    though the list travels in a POST body."""

    permission_classes = [AllowAny]
    post_is_read = True  # rate limited as a read (config/throttling.py)

    @extend_schema_serializer(component_name="RanksQuery")
    class InputSerializer(serializers.Serializer):
        player_ids = PlayerIdListField(
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
        parameters=[docs.BOARD_SLUG],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(OutputSerializer, description="Ranks of the players found."),
            400: validation_error({"player_ids": ["This list may not be empty."]}),
            404: BOARD_NOT_FOUND,
        },
        examples=docs.RANKS_EXAMPLES,
    )
    def post(self, request, slug: str):
        board = catalog.board(slug)
        body = validated_input(self.InputSerializer, request.data)
        player_ids = list(dict.fromkeys(body["player_ids"]))
        entries = board_ranks(board, player_ids=player_ids)
        found = {entry.player_id for entry in entries}
        missing = [player_id for player_id in player_ids if player_id not in found]
        return json_response(request, {"results": entries, "missing": missing})


class StandingsApi(APIView):
    """Standings of a metric over any time range [from, to), from the delta log."""

    class FilterSerializer(PageFilterSerializer):
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        from_ = WindowInstantField()
        to = WindowInstantField(required=False, allow_null=True, default=None)
        aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
        order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")
        tie_break = serializers.ChoiceField(
            choices=TieBreak.choices, default="player_id", help_text=TIE_BREAK_HELP
        )

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
            "boards. Before the delta log's retention (`DELTA_RETENTION_DAYS`) only the "
            "rollups remain: a range whose ends there are on the hour (UTC) is answered "
            "from them exactly, any other is a 400 saying so."
        ),
        parameters=[FilterSerializer],
        responses={
            200: OpenApiResponse(
                docs.ENTRY_PAGE,
                description="One page of standings.",
                examples=[docs.STANDINGS_PAGE_EXAMPLE],
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
            tie_break=params["tie_break"],
        )
        offset, limit = params["offset"], params["limit"]
        count, entries = window_entries(window, offset=offset, limit=limit)
        return counted_page_response(
            request, count=count, offset=offset, limit=limit, results=entries
        )
