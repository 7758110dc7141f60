"""ASGI entry points: `application`, the whole site; `streams`, the stream server's
(`manage.py serve_streams`), which routes by config/urls_streams.py through its own
middleware (STREAM_MIDDLEWARE)."""

import os

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

STREAMS_URLCONF = "config.urls_streams"


class StreamsHandler(ASGIHandler):
    """Django's ASGI handler with the stream server's routes and middleware, and without
    a thread of its own for each request."""

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        # Django runs each request in asgiref's ThreadSensitiveContext: the first sync code
        # it runs (the request_started receivers, at once) gets a thread of its own, kept
        # until the request ends. A stream's request lasts as long as its viewer watches:
        # one idle OS thread per open stream. Outside such a context, sync code shares
        # asgiref's one thread instead; the streams' own sync reads go to the default
        # executor (asyncio.to_thread).
        if scope["type"] != "http":
            raise ValueError(f"the stream server serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's loader reads settings.MIDDLEWARE and nothing else.
        web = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.STREAM_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = web

    def create_request(self, scope, body_file):  # type: ignore[no-untyped-def]
        request, error = super().create_request(scope, body_file)
        if request is not None:
            request.urlconf = STREAMS_URLCONF
        return request, error


django.setup(set_prefix=False)
streams = StreamsHandler()
