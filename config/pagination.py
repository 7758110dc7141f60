"""The API's paging: limit/offset, each bounded, out-of-range values a 400 naming the
parameter. Lists of rows (boards, series, rejected events) page through DRF's
LimitOffsetPagination; pages a selector counts and slices (entries, standings) take the
same parameters from PageFilterSerializer."""

from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from config.renderers import json_response

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Far past any board's end (a page there is empty), far inside PostgreSQL's bigint and
# Redis's ranges, which a larger offset overflows.
MAX_OFFSET = 1_000_000_000


class PageFilterSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        default=DEFAULT_PAGE_SIZE,
        help_text=f"Page size, 1 to {MAX_PAGE_SIZE}.",
    )
    offset = serializers.IntegerField(
        min_value=0, max_value=MAX_OFFSET, default=0, help_text="How many items to skip."
    )


class Pagination(LimitOffsetPagination):
    """DRF's limit/offset, its parameters checked like PageFilterSerializer's (DRF's own
    would quietly replace a bad limit and pass any offset on to the database)."""

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE

    _validated: dict | None = None

    def _query(self, request) -> dict:
        """limit and offset, checked once (get_limit and get_offset both ask)."""
        if self._validated is None:
            query = PageFilterSerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            self._validated = query.validated_data
        return self._validated

    def get_limit(self, request) -> int:
        return self._query(request)["limit"]

    def get_offset(self, request) -> int:
        return self._query(request)["offset"]

    def paginate_counted(self, request, *, count: int, offset: int, limit: int) -> None:
        """Page over results a selector has already counted and sliced, so next/previous
        links come out exactly as for a queryset page."""
        self.request = request
        self.count = count
        self.offset = offset
        self.limit = limit


def paginated_response(request, view, queryset, serializer_class) -> Response:
    """One page of a queryset, serialised, as {count, next, previous, results}."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


def counted_page_response(request, *, count: int, offset: int, limit: int, results: list):
    """A page a selector has already counted and sliced, as {count, next, previous,
    results}, with links as for a queryset page (the body get_paginated_response makes)."""
    paginator = Pagination()
    paginator.paginate_counted(request, count=count, offset=offset, limit=limit)
    page = {
        "count": count,
        "next": paginator.get_next_link(),
        "previous": paginator.get_previous_link(),
        "results": results,
    }
    return json_response(request, page)
