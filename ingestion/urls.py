"""API routes of ingestion, mounted under /api/v1/."""

from django.urls import path

from ingestion import apis

urlpatterns = [
    path("events/", apis.EventCreateApi.as_view(), name="api-events"),
    path("rejected-events/", apis.RejectedEventListApi.as_view(), name="api-rejected-event-list"),
]
