from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "ingestion"

    def ready(self) -> None:
        from ingestion import receivers  # noqa: F401  (connects to leaderboards' signals)
