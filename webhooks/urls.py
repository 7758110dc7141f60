"""API routes of webhooks, mounted under /api/v1/."""

from django.urls import path

from webhooks import api

urlpatterns = [
    path("webhooks/", api.WebhookListApi.as_view(), name="api-webhook-list"),
    path("webhooks/<uuid:id>/", api.WebhookDetailApi.as_view(), name="api-webhook-detail"),
    path(
        "webhooks/<uuid:id>/deliveries/",
        api.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
]
