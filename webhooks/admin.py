"""Webhooks in the admin: endpoints (a disabled one says so and why, and can be enabled
again) and deliveries with every attempt, which can be redelivered. Endpoints are
registered through the API, which checks the URL and shows the secret once; the admin
never shows a secret."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks import services
from webhooks.models import Attempt, Delivery, Endpoint
from webhooks.tasks import deliveries_enqueue


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "event_list", "state", "failing_since", "created_at"]
    list_filter = [("disabled_at", admin.EmptyFieldListFilter)]
    search_fields = ["url"]
    fields = readonly_fields = (
        "id",
        "url",
        "events",
        "created_at",
        "state",
        "failing_since",
        "disabled_at",
        "disabled_reason",
    )
    actions = ["enable"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="events")
    def event_list(self, endpoint: Endpoint) -> str:
        return ", ".join(endpoint.events)

    @admin.display(description="state")
    def state(self, endpoint: Endpoint) -> str:
        if endpoint.disabled_at is not None:
            return endpoint.disabled_reason or "Disabled."
        if endpoint.failing_since is not None:
            return f"Failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        return "Enabled"

    @admin.action(description="Enable the selected endpoints again")
    def enable(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).", messages.SUCCESS)


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = readonly_fields = ("attempted_at", "status_code", "error", "duration_ms")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "message",
        "event",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "message__event"]
    list_select_related = ["message", "endpoint"]
    search_fields = ["message__id", "endpoint__url"]
    fields = readonly_fields = (
        "message",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "give_up_at",
        "created_at",
        "finished_at",
        "body",
    )
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="event")
    def event(self, delivery: Delivery) -> str:
        return delivery.message.event

    @admin.display(description="body")
    def body(self, delivery: Delivery) -> str:
        return delivery.message.body

    @admin.action(description="Redeliver the selected deliveries (same webhook-id)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        sent, refused = [], []
        with transaction.atomic():
            for delivery in queryset.select_related("endpoint"):
                try:
                    services.delivery_redeliver(delivery=delivery)
                except ValidationError as exc:
                    refused.append(f"{delivery}: {' '.join(exc.messages)}")
                else:
                    sent.append(delivery.pk)
            transaction.on_commit(lambda: deliveries_enqueue(sent))
        if sent:
            self.message_user(request, f"Redelivering {len(sent)} delivery(ies).")
        for refusal in refused:
            self.message_user(request, refusal, messages.ERROR)
