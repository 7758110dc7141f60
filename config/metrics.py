"""The Prometheus metrics server of the processes that serve no HTTP of their own (the
Kafka consumer, the Celery worker), on settings.METRICS_BIND_ADDRESS."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

import prometheus_client
from django.conf import settings
from prometheus_client.registry import REGISTRY, CollectorRegistry


def metrics_serve(port: int, *, registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Serve /metrics on `port` from a daemon thread; OSError when the port is taken. The
    server's `server_address` says where it listens (port 0 takes a free one)."""
    server, _thread = prometheus_client.start_http_server(
        port, addr=settings.METRICS_BIND_ADDRESS, registry=registry
    )
    return server


def metrics_url(server: WSGIServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"
