"""Admin for what the consumer keeps: rejected events and offsets, both read-only. They
are the consumer's record of what happened; editing them would falsify it."""

from django.contrib import admin

from ingestion.models import ConsumerOffset, RejectedEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RejectedEvent)
class RejectedEventAdmin(ReadOnlyAdmin):
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
