"""Celery tasks of the ingestion room: thin shells over its services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from ingestion import services


@shared_task
def rejected_events_prune() -> int:
    """Delete rejected events older than REJECTED_EVENTS_RETENTION_DAYS; how many went."""
    return services.rejected_events_prune()
