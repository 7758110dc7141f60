"""The API of recurring series: define one, reach its current window without its slug, and
list its past windows. Board and entry shapes are those of leaderboards/apis.py."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import Pagination
from leaderboards.apis import (
    METRIC_REGEX,
    BoardOutputSerializer,
    PageFilterSerializer,
    _entries_response,
)
from leaderboards.models import METRIC_MAX_LENGTH, Aggregation, Period, Series, SortOrder
from leaderboards.selectors import board_entries
from leaderboards.services import series_create, series_current_board


class SeriesOutputSerializer(serializers.ModelSerializer):
    reset_time = serializers.TimeField(format="%H:%M")
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


class SeriesListApi(APIView):
    """GET: every series. POST (API key): define a series; its current window opens now."""

    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=80)
        name = serializers.CharField(max_length=200)
        metric = serializers.RegexField(METRIC_REGEX, max_length=METRIC_MAX_LENGTH, default="score")
        period = serializers.ChoiceField(choices=Period.choices)
        reset_time = serializers.TimeField(format="%H:%M", default="00:00")
        reset_weekday = serializers.IntegerField(
            min_value=0, max_value=6, allow_null=True, default=None
        )
        timezone = serializers.CharField(max_length=64, default="UTC")
        aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
        sort_order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")

    OutputSerializer = SeriesOutputSerializer

    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(Series.objects.all(), request, view=self)
        data = self.OutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            series = series_create(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        except IntegrityError as exc:
            raise serializers.ValidationError(
                {"slug": ["Series with this Slug already exists."]}
            ) from exc
        data = self.OutputSerializer(series, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class SeriesDetailApi(APIView):
    def get(self, request, slug: str):
        data = SeriesOutputSerializer(_series(slug), context={"request": request}).data
        return Response(data)


class SeriesCurrentApi(APIView):
    """The board of the window running now (created on the spot if the scheduler has not)."""

    def get(self, request, slug: str):
        board = series_current_board(_series(slug))
        return Response(BoardOutputSerializer(board, context={"request": request}).data)


class SeriesCurrentEntriesApi(APIView):
    """One page of the current window's board, like /leaderboards/{slug}/entries/."""

    def get(self, request, slug: str):
        board = series_current_board(_series(slug))
        filters = PageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        offset, limit = filters.validated_data["offset"], filters.validated_data["limit"]
        count, entries = board_entries(board, offset=offset, limit=limit)
        return _entries_response(request, count=count, entries=entries, offset=offset, limit=limit)


class SeriesBoardsApi(APIView):
    """The series' windows, newest first: current, past (and the next one, if created)."""

    def get(self, request, slug: str):
        series = _series(slug)
        paginator = Pagination()
        page = paginator.paginate_queryset(series.boards.order_by("-starts_at"), request, view=self)
        data = BoardOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)
