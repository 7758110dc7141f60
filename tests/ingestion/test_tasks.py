"""Retention of rejected events: the periodic task deletes those older than
REJECTED_EVENTS_RETENTION_DAYS, in batches, and 0 keeps them all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery_app import app
from ingestion import tasks
from ingestion.models import RejectedEvent
from ingestion.services import rejected_events_prune

pytestmark = pytest.mark.django_db


def reject(offset: int, *, days_ago: float) -> RejectedEvent:
    event = RejectedEvent.objects.create(
        topic="score-events", partition=0, offset=offset, raw=b'{"player_id": "p1"}', reason="x"
    )
    received = timezone.now() - timedelta(days=days_ago)
    RejectedEvent.objects.filter(pk=event.pk).update(received_at=received)
    return event


def kept_offsets() -> list[int]:
    return sorted(RejectedEvent.objects.values_list("offset", flat=True))


def test_the_task_deletes_rejected_events_past_the_retention_period(settings):
    settings.REJECTED_EVENTS_RETENTION_DAYS = 7
    for offset, days_ago in enumerate([0, 3, 6.9, 7.1, 30, 400]):
        reject(offset, days_ago=days_ago)

    deleted = tasks.rejected_events_prune.apply().get()

    assert deleted == 3
    assert kept_offsets() == [0, 1, 2]
    assert tasks.rejected_events_prune.apply().get() == 0  # safe to run again


def test_the_default_keeps_thirty_days(settings):
    assert settings.REJECTED_EVENTS_RETENTION_DAYS == 30
    reject(0, days_ago=29)
    reject(1, days_ago=31)

    assert tasks.rejected_events_prune.apply().get() == 1
    assert kept_offsets() == [0]


def test_zero_days_keeps_every_rejected_event(settings):
    settings.REJECTED_EVENTS_RETENTION_DAYS = 0
    reject(0, days_ago=10_000)

    assert tasks.rejected_events_prune.apply().get() == 0
    assert kept_offsets() == [0]


def test_a_backlog_goes_in_bounded_batches(settings, django_assert_max_num_queries):
    for offset in range(7):
        reject(offset, days_ago=100)
    reject(7, days_ago=1)

    # Batches of 3: 3 + 3 + 1 rows, one DELETE each.
    with django_assert_max_num_queries(3):
        deleted = rejected_events_prune(retention_days=30, batch_size=3)

    assert deleted == 7
    assert kept_offsets() == [7]


def test_beat_runs_the_prune_hourly():
    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["rejected-events-prune"]
    assert entry == {"task": "ingestion.tasks.rejected_events_prune", "schedule": 3600.0}
    assert entry["task"] in app.tasks
