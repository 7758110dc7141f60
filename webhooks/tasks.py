"""Celery tasks: thin shells over services. Each is safe to run twice or twice at once."""

from __future__ import annotations

from celery import Task, shared_task
from django.utils.timezone import now as timezone_now

from webhooks import selectors, services


@shared_task(bind=True, max_retries=None, ignore_result=True)
def delivery_attempt(self: Task, delivery_id: int) -> None:
    """One attempt; a failed one is retried by Celery after the service's backoff."""
    retry_in = services.delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)


@shared_task(ignore_result=True)
def deliveries_sweep() -> list[int]:
    """Send again what a lost task (a worker killed, a broker flushed) left pending."""
    overdue = selectors.deliveries_overdue(now=timezone_now())
    for delivery_id in overdue:
        delivery_attempt.delay(delivery_id)
    return overdue


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Queue a first attempt of each delivery (call it after the commit that made them)."""
    for delivery_id in delivery_ids:
        delivery_attempt.delay(delivery_id)
