from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Installed only in development (DJANGO_DEVTOOLS), for its management commands:
    bench_ingest, bench_standings, bench_reads."""

    name = "devtools"
