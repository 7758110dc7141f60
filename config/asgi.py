"""ASGI entry points: `application`, the whole site; `streams`, the stream server's
(`manage.py serve_streams`), which routes by config/urls_streams.py."""

import os

import django
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

STREAMS_URLCONF = "config.urls_streams"


class StreamsHandler(ASGIHandler):
    """Django's ASGI handler with the stream server's routes on every request."""

    def create_request(self, scope, body_file):  # type: ignore[no-untyped-def]
        request, error = super().create_request(scope, body_file)
        if request is not None:
            request.urlconf = STREAMS_URLCONF
        return request, error


django.setup(set_prefix=False)
streams = StreamsHandler()
