"""Reads of webhooks: endpoints, the attempts of an endpoint's deliveries, and deliveries
whose attempt is overdue (lost with a worker: the sweep sends them again)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from webhooks.models import Attempt, Delivery, Endpoint

# An attempt due this long ago and not made is taken as lost (its task with it).
OVERDUE_AFTER = timedelta(minutes=2)


def endpoint_list() -> QuerySet[Endpoint]:
    return Endpoint.objects.order_by("-created_at", "id")


def endpoint_get(endpoint_id: UUID) -> Endpoint:
    """The endpoint, or Http404."""
    return get_object_or_404(Endpoint, pk=endpoint_id)


def endpoint_attempts(endpoint: Endpoint) -> QuerySet[Attempt]:
    """Every attempt to deliver to the endpoint, newest first, with its message."""
    return (
        Attempt.objects.filter(delivery__endpoint=endpoint)
        .select_related("delivery__message")
        .order_by("-attempted_at", "-id")
    )


def deliveries_overdue(*, now: datetime, limit: int = 1000) -> list[int]:
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now - OVERDUE_AFTER
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
