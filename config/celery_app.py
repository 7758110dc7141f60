"""The Celery app: Redis as broker, tasks autodiscovered from each app's tasks.py, and the
periodic schedule kept here in code."""

from __future__ import annotations

import logging
import os
from wsgiref.simple_server import WSGIServer

from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from config.metrics import metrics_serve, metrics_url
from config.staleness import cache_sync_interval

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("leaderboards")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def schedule_periodic_tasks(sender: Celery, **_kwargs) -> None:
    """The periodic schedule, once Celery has read the settings (some intervals are ones)."""
    sender.conf.beat_schedule = {
        # Windows of recurring series exist (and are warm in Redis) before they open.
        "series-rollover": {"task": "leaderboards.tasks.series_rollover", "schedule": 60.0},
        # Ended windows freeze once their grace period for late events has passed.
        "boards-finalize": {"task": "leaderboards.tasks.boards_finalize", "schedule": 60.0},
        "rollups-advance": {"task": "leaderboards.tasks.rollups_advance", "schedule": 60.0},
        # The delta log's weeks ahead exist; weeks past DELTA_RETENTION_DAYS go once rolled up.
        "delta-partitions": {"task": "leaderboards.tasks.delta_partitions", "schedule": 3600.0},
        # Rejected events (raw payloads: ids, names) go after REJECTED_EVENTS_RETENTION_DAYS.
        "rejected-events-prune": {
            "task": "ingestion.tasks.rejected_events_prune",
            "schedule": 3600.0,
        },
        # Live boards stay cached, dropped ones come back, finalised ones leave, drift is
        # caught.
        "cache-sync": {
            "task": "leaderboards.tasks.cache_sync",
            "schedule": cache_sync_interval(),
        },
        # Webhook deliveries whose task was lost (a worker killed) are sent again.
        "webhook-deliveries-sweep": {"task": "webhooks.tasks.deliveries_sweep", "schedule": 60.0},
    }


@worker_ready.connect
def serve_worker_metrics(**_kwargs) -> WSGIServer | None:
    """Prometheus metrics of the tasks (cache sync) on METRICS_BIND_ADDRESS and
    WORKER_METRICS_PORT, from the main process. A threads or solo pool counts in this
    process's registry. The prefork pool counts in its children: with
    PROMETHEUS_MULTIPROC_DIR set (prometheus_client reads it when first imported), every
    process writes its values to files there and the endpoint adds them up."""
    port = settings.WORKER_METRICS_PORT
    if not port:
        return None
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    server = metrics_serve(port, registry=registry)
    logger.info("worker metrics on %s", metrics_url(server))
    return server


@worker_process_shutdown.connect
def forget_pool_process(pid: int, **_kwargs) -> None:
    """A pool child that exits leaves its counters counted, its live gauges not."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
