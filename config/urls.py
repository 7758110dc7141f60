from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("leaderboards.urls")),
    path("api/v1/", include("ingestion.urls")),
    path("", include("django_prometheus.urls")),
    path("", include("leaderboards.page_urls")),
]
