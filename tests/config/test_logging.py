"""Log formats, context fields on every line, and request ids."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import path

from config.logging import ContextFilter, JsonFormatter, PlainFormatter, log_context
from config.middleware import REQUEST_ID_HEADER, RequestIdMiddleware, request_id_for

view_logger = logging.getLogger("tests.view")


def logging_view(request):
    view_logger.warning("inside the view")
    return HttpResponse("ok")


urlpatterns = [path("logs/", logging_view)]


def capture(formatter: logging.Formatter, logger_name: str = "") -> tuple[io.StringIO, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logging.getLogger(logger_name).addHandler(handler)
    return stream, handler


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the production (JSON) handler writes it."""
    stream, handler = capture(JsonFormatter())
    yield stream
    logging.getLogger().removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def make_record(message: str = "hello %s", args=("world",), **extra) -> logging.LogRecord:
    record = logging.LogRecord("ingestion.consumer", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


# -- formatters ---------------------------------------------------------------------------


def test_json_formatter_writes_one_object_with_time_level_logger_and_message():
    line = JsonFormatter().format(make_record())

    data = json.loads(line)
    assert data["level"] == "INFO"
    assert data["logger"] == "ingestion.consumer"
    assert data["message"] == "hello world"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])
    assert "\n" not in line


def test_json_formatter_keeps_extra_fields_and_formats_exceptions():
    try:
        raise ValueError("boom")
    except ValueError:
        record = make_record(batch_size=500)
        record.exc_info = sys.exc_info()

    data = json.loads(JsonFormatter().format(record))

    assert data["batch_size"] == 500
    assert "ValueError: boom" in data["exc_info"]


def test_context_fields_reach_json_output_through_the_handler_filter():
    stream, handler = capture(JsonFormatter(), "tests.context")
    try:
        with log_context(batch_id="b-42"):
            logging.getLogger("tests.context.child").warning("stored")
        logging.getLogger("tests.context.child").warning("outside")
    finally:
        logging.getLogger("tests.context").removeHandler(handler)

    inside, outside = parsed(stream)
    assert inside["batch_id"] == "b-42"
    assert "batch_id" not in outside
    assert not any(key.startswith("_") for key in inside)


def test_plain_formatter_shows_context_fields_in_brackets():
    stream, handler = capture(PlainFormatter(), "tests.plain")
    try:
        with log_context(request_id="r1"), log_context(batch_id="b2"):
            logging.getLogger("tests.plain").warning("stored %d deltas", 3)
        logging.getLogger("tests.plain").warning("no context")
    finally:
        logging.getLogger("tests.plain").removeHandler(handler)

    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("WARNING tests.plain [request_id=r1] [batch_id=b2] stored 3 deltas")
    assert outside.endswith("WARNING tests.plain no context")


def test_log_context_stays_in_its_own_thread():
    seen = {}

    def worker():
        seen["context"] = logging.LogRecord("x", 20, "", 0, "", (), None)
        ContextFilter().filter(seen["context"])

    with log_context(request_id="main-only"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()

    assert not hasattr(seen["context"], "request_id")


def test_settings_choose_the_format_from_log_format_and_attach_the_context_filter(settings):
    handler = settings.LOGGING["handlers"]["console"]

    assert handler["formatter"] == settings.LOG_FORMAT
    assert settings.LOG_FORMAT in {"plain", "json"}
    assert handler["filters"] == ["context"]
    assert settings.LOGGING["filters"]["context"]["()"] == "config.logging.ContextFilter"
    formatter_class = {"json": JsonFormatter, "plain": PlainFormatter}[settings.LOG_FORMAT]
    assert any(
        isinstance(h.formatter, formatter_class)
        and any(isinstance(f, ContextFilter) for f in h.filters)
        for h in logging.getLogger().handlers
    )


# -- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123_x.y", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ("", False),
        (None, False),
        ("ünïcode", False),
    ],
)
def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(incoming, kept):
    request_id = request_id_for(incoming)

    if kept:
        assert request_id == incoming
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_a_request_without_an_id_gets_a_generated_one_in_the_response(client):
    first = client.get("/healthz")
    second = client.get("/healthz")

    assert re.fullmatch(r"[0-9a-f]{32}", first[REQUEST_ID_HEADER])
    assert first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]


def test_a_request_id_from_the_caller_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.1")

    assert response[REQUEST_ID_HEADER] == "lb-7f3a.1"


def test_an_unsafe_request_id_from_the_caller_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="evil\r\nSet-Cookie: x=1" + "a" * 200)

    assert re.fullmatch(r"[0-9a-f]{32}", response[REQUEST_ID_HEADER])


@override_settings(ROOT_URLCONF=__name__)
def test_log_lines_during_a_request_carry_its_request_id(client, json_lines):
    response = client.get("/logs/", HTTP_X_REQUEST_ID="req-1")

    lines = parsed(json_lines)
    view_line = next(line for line in lines if line["message"] == "inside the view")
    access_line = next(line for line in lines if line["logger"] == "config.access")
    assert response[REQUEST_ID_HEADER] == "req-1"
    assert view_line["request_id"] == "req-1"
    assert view_line["level"] == "WARNING"
    assert access_line["request_id"] == "req-1"
    assert access_line | {"method": "GET", "path": "/logs/", "status": 200} == access_line
    assert access_line["duration_ms"] >= 0


def test_the_request_id_ends_with_the_request(json_lines):
    middleware = RequestIdMiddleware(lambda request: HttpResponse("ok"))
    middleware(RequestFactory().get("/x", HTTP_X_REQUEST_ID="done-1"))

    logging.getLogger("tests.after").warning("after the request")

    after = next(line for line in parsed(json_lines) if line["logger"] == "tests.after")
    assert "request_id" not in after


def test_probe_and_scrape_requests_are_logged_at_debug_only(client, json_lines):
    client.get("/healthz")

    assert not [line for line in parsed(json_lines) if line["logger"] == "config.access"]
