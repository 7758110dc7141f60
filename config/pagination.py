"""The API's one pagination class: DRF's limit/offset, with a ceiling on the page size."""

from rest_framework.pagination import LimitOffsetPagination

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
