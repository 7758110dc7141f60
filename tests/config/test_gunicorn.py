"""The web app as production runs it (gunicorn, gunicorn.conf.py): a client that sends
its headers and then stops sending its body holds a worker no longer than the body
timeout; a body over the limit is refused without being read; rate limits hold across
worker processes."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from access.models import ApiKey, Scope
from devtools.web_server import web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 3


def stalled_upload(base: str, key: str, *, declared: int, sent: bytes) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        (
            "POST /api/v1/events/ HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            f"Authorization: Api-Key {key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + sent
    )
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def test_a_stalled_upload_gets_a_408_and_frees_its_worker(monkeypatch, tmp_path, topic):
    monkeypatch.setenv("GUNICORN_BODY_TIMEOUT", str(TIMEOUT))
    _, key = ApiKey.objects.create_key(name="slow", scopes=[Scope.EVENTS_WRITE])
    log = tmp_path / "gunicorn.log"

    with web_server(workers=1, worker_class="sync", threads=1, log=log) as base:
        # Headers, then 10 of the 100 bytes promised, then nothing: the one worker waits.
        sock = stalled_upload(base, key, declared=100, sent=b'[{"player')
        # After TIMEOUT s without more of it, the read gives up: a 408, connection closed...
        answer = read_to_close(sock)
        # ...and the same worker serves the next client.
        with urllib.request.urlopen(base + "/healthz", timeout=30) as response:
            assert response.status == 200

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {
        "detail": "The request body did not arrive in time; send it again."
    }
    assert "WORKER TIMEOUT" not in log.read_text()


def test_a_worker_silent_past_the_worker_timeout_is_replaced(monkeypatch, tmp_path, topic):
    """The last resort, should a read wait on despite the body timeout."""
    monkeypatch.setenv("GUNICORN_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("GUNICORN_BODY_TIMEOUT", "600")
    _, key = ApiKey.objects.create_key(name="slow", scopes=[Scope.EVENTS_WRITE])
    log = tmp_path / "gunicorn.log"

    with web_server(workers=1, worker_class="sync", threads=1, log=log) as base:
        sock = stalled_upload(base, key, declared=100, sent=b'[{"player')
        read_to_close(sock)  # gunicorn aborts the worker and closes the connection
        with urllib.request.urlopen(base + "/healthz", timeout=30) as response:
            assert response.status == 200

    assert "WORKER TIMEOUT" in log.read_text()


def test_an_oversize_upload_is_refused_before_its_body_arrives(tmp_path, topic):
    _, key = ApiKey.objects.create_key(name="big", scopes=[Scope.EVENTS_WRITE])

    with web_server(workers=1, worker_class="sync", threads=1, log=tmp_path / "g.log") as base:
        # 50 MB announced, 10 bytes sent: the answer comes without waiting for the rest.
        sock = stalled_upload(base, key, declared=50_000_000, sent=b'[{"player')
        answer = read_to_close(sock).decode()

    assert answer.startswith("HTTP/1.1 413 ")
    assert "at most 1048576 are accepted" in answer


def test_rate_limits_hold_across_workers_and_answer_429_with_retry_after(tmp_path, redis_client):
    """Twelve requests at once, so both workers serve some: they share one count in Redis,
    where counts of their own would let up to ten through. (redis_client: no count left by
    the suite's earlier requests.)"""
    if time.time() % 60 > 55:  # keep the burst inside one window
        time.sleep(60 - time.time() % 60 + 0.1)

    def get(url: str) -> tuple[int, str | None]:
        try:
            with urllib.request.urlopen(url, timeout=30) as ok:
                return ok.status, None
        except urllib.error.HTTPError as refused:
            return refused.code, refused.headers["Retry-After"]

    limited = {"THROTTLE_READ_RATE": "5/minute"}
    with (
        web_server(
            workers=2, worker_class="sync", threads=1, log=tmp_path / "g.log", env=limited
        ) as base,
        ThreadPoolExecutor(max_workers=12) as pool,
    ):
        answers = list(pool.map(get, [base + "/api/v1/leaderboards/"] * 12))

    assert sorted(status for status, _ in answers) == [200] * 5 + [429] * 7
    assert all(1 <= int(wait) <= 60 for status, wait in answers if status == 429)


def raw_request(base: str, head: str, body: bytes = b"") -> tuple[int, dict]:
    """Send `head` (request line and headers, CRLF-separated, without the blank line) and
    `body` as they are; the status and JSON body of the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.getheader("Content-Type") == "application/json"
        return answer.status, json.loads(answer.read())


def test_hostile_requests_get_json_4xx_from_a_real_worker(tmp_path, topic):
    """What issue 19's user sent, as production receives it: a chunked body (gunicorn would
    decode it, Django under WSGI would read it as empty), a Host not allowed (refused by
    Django before any view), and a body nested 1,000 deep at a real worker's stack depth."""
    _, key = ApiKey.objects.create_key(name="hostile", scopes=[Scope.EVENTS_WRITE])
    events = f"POST /api/v1/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Api-Key {key}"
    chunk = b'{"player_id": "p1", "delta": 1}'
    deep = b"[" * 1000 + b"]" * 1000

    with web_server(workers=1, worker_class="sync", threads=1, log=tmp_path / "g.log") as base:
        chunked = raw_request(
            base,
            events + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk),
        )
        bad_host = raw_request(base, "GET /api/v1/leaderboards/ HTTP/1.1\r\nHost: evil.example")
        nested = raw_request(
            base,
            events + f"\r\nContent-Type: application/json\r\nContent-Length: {len(deep)}",
            deep,
        )
        unknown = raw_request(base, "GET /api/v1/nope/ HTTP/1.1\r\nHost: 127.0.0.1")

    assert chunked == (
        411,
        {"detail": "Send the body with a Content-Length; chunked bodies are not read."},
    )
    assert bad_host == (
        400,
        {"detail": "The Host header names a host this service does not serve."},
    )
    assert nested == (400, {"detail": "JSON parse error - nested deeper than 32 levels."})
    assert unknown == (404, {"detail": "Not found."})
