"""The stream server's routes (config/asgi.py's `streams`): the streams and the health
probes, nothing else, so the long-lived connections stay off the web processes and the
web's routes stay off this one."""

from django.urls import include, path

from config import health

urlpatterns = [
    path("api/v1/", include("leaderboards.streams.urls")),
    path("healthz", health.healthz, name="healthz"),
    # PostgreSQL and Redis: a stream needs no Kafka.
    path("readyz", health.streams_readyz, name="readyz"),
]
