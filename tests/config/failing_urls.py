"""The site's routes and error handlers, and two routes that fail: for tests of the
answer to an uncaught exception."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as site


def boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("api/v1/boom/", boom), path("boom/", boom), *site]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
