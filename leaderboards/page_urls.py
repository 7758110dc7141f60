"""Public pages (HTML); the JSON API lives in leaderboards/urls.py."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
