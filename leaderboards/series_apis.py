"""The API of recurring series: define one, reach its current window without its slug, and
list its past windows. Board and entry shapes are those of leaderboards/apis.py."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.openapi import (
    API_KEY_AUTH,
    API_KEY_MISSING,
    EXAMPLE_BASE_URL,
    LIST_PAGE_PARAMETERS,
    not_found,
    page_example,
    page_of,
    validation_error,
)
from config.pagination import paginated_response
from leaderboards.apis import (
    BOARD_EXAMPLE,
    BOARD_PAGE,
    ENTRY_PAGE,
    ENTRY_PAGE_EXAMPLE,
    METRIC_REGEX,
    BoardOutputSerializer,
    PageFilterSerializer,
    _entries_response,
    created_or_400,
)
from leaderboards.models import METRIC_MAX_LENGTH, Aggregation, Period, Series, SortOrder
from leaderboards.selectors import board_entries
from leaderboards.services import series_create, series_current_board


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "example": "02:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day as HH:MM (seconds accepted on input). OpenAPI's `time` format would
    demand seconds and an offset, which a wall-clock reset time does not have."""


@extend_schema_serializer(component_name="Series")
class SeriesOutputSerializer(serializers.ModelSerializer):
    reset_time = WallClockTimeField(format="%H:%M")
    url = serializers.HyperlinkedIdentityField(view_name="api-series-detail", lookup_field="slug")
    current_url = serializers.HyperlinkedIdentityField(
        view_name="api-series-current", lookup_field="slug"
    )
    boards_url = serializers.HyperlinkedIdentityField(
        view_name="api-series-boards", lookup_field="slug"
    )

    class Meta:
        model = Series
        fields = [
            "slug",
            "name",
            "metric",
            "period",
            "reset_time",
            "reset_weekday",
            "timezone",
            "aggregation",
            "sort_order",
            "url",
            "current_url",
            "boards_url",
        ]


def _series(slug: str) -> Series:
    return get_object_or_404(Series, slug=slug)


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
    "url": f"{EXAMPLE_BASE_URL}/series/weekly/",
    "current_url": f"{EXAMPLE_BASE_URL}/series/weekly/current/",
    "boards_url": f"{EXAMPLE_BASE_URL}/series/weekly/boards/",
}
SERIES_PAGE = page_of("SeriesPage", SeriesOutputSerializer(many=True))
SERIES_NOT_FOUND = not_found("No Series matches the given query.")


class SeriesListApi(APIView):
    """GET: every series. POST (API key): define a series; its current window opens now."""

    @extend_schema_serializer(component_name="SeriesCreate")
    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=80)
        name = serializers.CharField(max_length=200)
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        period = serializers.ChoiceField(choices=Period.choices)
        reset_time = WallClockTimeField(format="%H:%M", default="00:00")
        reset_weekday = serializers.IntegerField(
            min_value=0, max_value=6, allow_null=True, default=None
        )
        timezone = serializers.CharField(max_length=64, default="UTC")
        aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
        sort_order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")

    OutputSerializer = SeriesOutputSerializer

    @extend_schema(
        operation_id="series_list",
        summary="List series",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                SERIES_PAGE,
                description="One page of series.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example("series/", [SERIES_EXAMPLE], count=3, limit=1),
                    )
                ],
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
        examples=[
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
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        series = created_or_400(
            series_create,
            serializer.validated_data,
            conflict="Series with this Slug already exists.",
        )
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
                examples=[OpenApiExample("Weekly", value=SERIES_EXAMPLE)],
            ),
            404: SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        data = SeriesOutputSerializer(_series(slug), context={"request": request}).data
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
                examples=[OpenApiExample("This week", value=BOARD_EXAMPLE)],
            ),
            404: SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = series_current_board(_series(slug))
        return Response(BoardOutputSerializer(board, context={"request": request}).data)


class SeriesCurrentEntriesApi(APIView):
    """One page of the current window's board, like /leaderboards/{slug}/entries/."""

    @extend_schema(
        operation_id="series_current_entries_list",
        summary="Entries of the series' current board, best first",
        parameters=[PageFilterSerializer],
        responses={
            200: OpenApiResponse(
                ENTRY_PAGE, description="One page of entries.", examples=[ENTRY_PAGE_EXAMPLE]
            ),
            400: validation_error({"limit": ["Ensure this value is less than or equal to 1000."]}),
            404: SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        board = series_current_board(_series(slug))
        filters = PageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        offset, limit = filters.validated_data["offset"], filters.validated_data["limit"]
        count, entries = board_entries(board, offset=offset, limit=limit)
        return _entries_response(request, count=count, entries=entries, offset=offset, limit=limit)


class SeriesBoardsApi(APIView):
    """The series' windows, newest first: current, past (and the next one, if created)."""

    @extend_schema(
        operation_id="series_boards_list",
        summary="The series' boards, newest first",
        parameters=LIST_PAGE_PARAMETERS,
        responses={
            200: OpenApiResponse(
                BOARD_PAGE,
                description="One page of the series' boards.",
                examples=[
                    OpenApiExample(
                        "First page",
                        value=page_example(
                            "series/weekly/boards/", [BOARD_EXAMPLE], count=9, limit=1
                        ),
                    )
                ],
            ),
            404: SERIES_NOT_FOUND,
        },
    )
    def get(self, request, slug: str):
        series = _series(slug)
        boards = series.boards.order_by("-starts_at")
        return paginated_response(request, self, boards, BoardOutputSerializer)
