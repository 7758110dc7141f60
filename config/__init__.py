"""Project configuration. The Celery app is loaded with Django so tasks can be sent from
any process (`celery -A config worker` finds it here)."""

from config.celery_app import app as celery_app

__all__ = ("celery_app",)
