"""Live streams of boards and of players' ranks, as Server-Sent Events, served by the
stream server (`manage.py serve_streams`, an ASGI process): the hub that turns change
notices into events (`hub.py`), the events' encoding (`events.py`), the views and their
routes (`views.py`, `urls.py`). docs/streams.md says how to consume them."""
