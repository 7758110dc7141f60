"""The API's one pagination class: DRF's limit/offset, with a ceiling on the page size."""

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from config.renderers import json_response

MAX_PAGE_SIZE = 1000


class Pagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE

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
