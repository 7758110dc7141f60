"""Admin for what the consumer keeps: rejected events and offsets, both read-only (they
are the consumer's record of what happened; editing them would falsify it), and the
staff-only ingestion dashboard at /admin/ingestion/dashboard/. Rejected events may be
deleted (they hold raw payloads; the `rejected-events-prune` task deletes old ones too)."""

import math

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path

from config.admin import DbDefaultsAdmin
from ingestion.models import RejectedEvent
from ingestion.selectors import (
    consumer_lag,
    events_per_minute,
    rejected_events_recent,
)
from leaderboards.models import ConsumerOffset
from leaderboards.selectors import board_cache_status


class RecordAdmin(DbDefaultsAdmin):
    """Neither added nor edited here: the consumer writes these."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(RecordAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RejectedEvent)
class RejectedEventAdmin(RecordAdmin):
    """Deletable by staff with the model's delete permission (superusers have it), one by
    one or with the "Delete selected" action."""

    list_display = ["reason", "topic", "partition", "offset", "received_at"]
    list_filter = ["reason"]
    search_fields = ["detail"]
    date_hierarchy = "received_at"
    fields = [
        "topic",
        "partition",
        "offset",
        "key_text",
        "raw_text",
        "reason",
        "detail",
        "received_at",
    ]
    readonly_fields = fields

    @admin.display(description="key")
    def key_text(self, event: RejectedEvent) -> str:
        if event.key is None:
            return "-"
        return bytes(event.key).decode("utf-8", errors="replace")

    @admin.display(description="raw")
    def raw_text(self, event: RejectedEvent) -> str:
        return event.raw_text


@admin.register(ConsumerOffset)
class ConsumerOffsetAdmin(ReadOnlyAdmin):
    list_display = ["topic", "partition", "next_offset", "updated_at"]
    list_filter = ["topic"]


def ingestion_dashboard(request: HttpRequest) -> TemplateResponse:
    """Events per second over the last hour, lag per partition, the latest rejections and
    the board cache, on one page."""
    minutes = events_per_minute(minutes=60)
    peak = max((m.accepted_per_second + m.rejected_per_second for m in minutes), default=0)
    scale = _nice_ceiling(peak)
    context = {
        **admin.site.each_context(request),
        "title": "Ingestion dashboard",
        "minutes": minutes,
        "scale": scale,
        "half_scale": scale / 2,
        "lag": consumer_lag(),
        "rejected": rejected_events_recent(limit=20),
        "cache": board_cache_status(),
    }
    return TemplateResponse(request, "admin/ingestion/dashboard.html", context)


def _nice_ceiling(value: float) -> float:
    """The chart's top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _with_dashboard(get_urls):
    def urls():
        dashboard = admin.site.admin_view(ingestion_dashboard)  # staff only
        return [path("ingestion/dashboard/", dashboard, name="ingestion_dashboard"), *get_urls()]

    return urls


admin.site.get_urls = _with_dashboard(admin.site.get_urls)
