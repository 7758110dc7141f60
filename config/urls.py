"""Site routes: admin, the JSON API and its docs, health probes, metrics, public pages; and
the views of Django's own error answers (config/errors.py)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("leaderboards.api.urls")),
    path("api/v1/", include("ingestion.urls")),
    path("api/v1/", include("webhooks.urls")),
    # OpenAPI 3 schema (YAML; ?format=json for JSON) and Swagger UI over it.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    path("", include("leaderboards.pages.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
