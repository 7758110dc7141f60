"""The API of recurring series: define one, reach its current window without its slug, and
list its past windows. The shapes of boards, series and entries are
leaderboards/api/serializers.py's; the examples, leaderboards/api/openapi.py's."""

from __future__ import annotations

import datetime as dt

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Scope
from config.openapi import API_KEY_AUTH, API_KEY_MISSING, LIST_PAGE_PARAMETERS, validation_error
from config.pagination import (
    PageFilterSerializer,
    counted_page_response,
    paginated_response,
)
from leaderboards.api import openapi as docs
from leaderboards.api.response_cache import micro_cached
from leaderboards.api.serializers import (
    METRIC_REGEX,
    BoardOutputSerializer,
    RulesInputSerializer,
    SeriesOutputSerializer,
    WallClockTimeField,
    validated_input,
)
from leaderboards.cache.catalog import catalog
from leaderboards.models import METRIC_MAX_LENGTH, Period, Series
from leaderboards.selectors import board_entries, series_board_now
from leaderboards.services import series_create, series_current_board


class SeriesListApi(APIView):
    """GET: every series. POST (API key): define a series; its current window opens now."""

    api_key_scope = Scope.BOARDS_WRITE

    @extend_schema_serializer(component_name="SeriesCreate")
    class InputSerializer(RulesInputSerializer):
        slug = serializers.SlugField(max_length=80)
        name = serializers.CharField(max_length=200)
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        period = serializers.ChoiceField(choices=Period.choices)
        reset_time = WallClockTimeField(format="%H:%M", default=dt.time(0, 0))
        reset_weekday = serializers.IntegerField(
            min_value=0, max_value=6, allow_null=True, default=None
        )
        timezone = serializers.CharField(max_length=64, default="UTC")

    OutputSerializer = SeriesOutputSerializer

    @extend_schema(
        operation_id="series_list",
        summary="List series",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                docs.SERIES_PAGE,
                description="One page of series.",
                examples=[docs.SERIES_PAGE_EXAMPLE],
            )
        },
    )
    def get(self, request):
        return paginated_response(request, self, Series.objects.all(), self.OutputSerializer)

    @extend_schema(
        operation_id="series_create",
        summary="Define a recurring series",
        description=(
            "One board per day, week or month, resetting at `reset_time` (on "
            "`reset_weekday`, 0 = Monday, for weekly series) in the IANA `timezone`. The "
            "current window opens at once. Needs an API key."
        ),
        auth=API_KEY_AUTH,
        request=InputSerializer,
        responses={
            201: OpenApiResponse(SeriesOutputSerializer, description="The new series."),
            400: validation_error(
                {"timezone": ["'Mars/Olympus' is not an IANA time zone, e.g. Europe/Berlin."]}
            ),
            403: API_KEY_MISSING,
        },
        examples=docs.SERIES_CREATE_EXAMPLES,
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        series = series_create(**serializer.validated_data)
        data = self.OutputSerializer(series, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class SeriesDetailApi(APIView):
    @extend_schema(
        operation_id="series_retrieve",
        summary="One series",
        responses={
            200: OpenApiResponse(
                SeriesOutputSerializer,
                description="The series.",
                examples=[OpenApiExample("Weekly", value=docs.SERIES_EXAMPLE)],
            ),
            404: docs.SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        data = SeriesOutputSerializer(catalog.series(slug), context={"request": request}).data
        return Response(data)


class SeriesCurrentApi(APIView):
    """The board of the window running now (created on the spot if the scheduler has not)."""

    @extend_schema(
        operation_id="series_current_retrieve",
        summary="The series' current board",
        responses={
            200: OpenApiResponse(
                BoardOutputSerializer,
                description="The board of the window running now.",
                examples=[OpenApiExample("This week", value=docs.BOARD_EXAMPLE)],
            ),
            404: docs.SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = series_board_now(catalog.series(slug)) or series_current_board(
            get_object_or_404(Series, slug=slug)
        )
        return Response(BoardOutputSerializer(board, context={"request": request}).data)


class SeriesCurrentEntriesApi(APIView):
    """One page of the current window's board, like /leaderboards/{slug}/entries/."""

    @extend_schema(
        operation_id="series_current_entries_list",
        summary="Entries of the series' current board, best first",
        parameters=[PageFilterSerializer],
        responses={
            200: OpenApiResponse(
                docs.ENTRY_PAGE,
                description="One page of entries.",
                examples=[docs.ENTRY_PAGE_EXAMPLE],
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            404: docs.SERIES_NOT_FOUND,
        },
    )
    @micro_cached
    def get(self, request, slug: str):
        board = series_board_now(catalog.series(slug)) or series_current_board(
            get_object_or_404(Series, slug=slug)
        )
        query = validated_input(PageFilterSerializer, request.query_params)
        offset, limit = query["offset"], query["limit"]
        count, entries = board_entries(board, offset=offset, limit=limit)
        return counted_page_response(
            request, count=count, offset=offset, limit=limit, results=entries
        )


class SeriesBoardsApi(APIView):
    """The series' windows, newest first: current, past (and the next one, if created)."""

    @extend_schema(
        operation_id="series_boards_list",
        summary="The series' boards, newest first",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                docs.BOARD_PAGE,
                description="One page of the series' boards.",
                examples=[docs.SERIES_BOARDS_PAGE_EXAMPLE],
            ),
            404: docs.SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        series = get_object_or_404(Series, slug=slug)
        boards = series.boards.order_by("-starts_at")
        return paginated_response(request, self, boards, BoardOutputSerializer)
