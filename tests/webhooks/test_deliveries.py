"""Deliveries end to end (webhooks/services.py, tasks.py, transport.py): a board's
finalisation or start reaches a real HTTP receiver, signed as Standard Webhooks says
(checked with the standardwebhooks package), at least once, with the same webhook-id on
every retry; failures are retried, recorded, given up on, and disable an endpoint."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.services import board_finalize, series_create, series_rollover
from tests.factories import BoardFactory, PlayerFactory
from webhooks import services, tasks
from webhooks.models import Attempt, Delivery, Endpoint, Message

pytestmark = pytest.mark.django_db

ENDED = datetime.now(UTC) - timedelta(hours=1)


def endpoint_for(url: str, *events: str) -> Endpoint:
    return services.endpoint_create(url=url, events=list(events) or ["board.finalized"])


def ended_board_with_players(n: int):
    board = BoardFactory(slug="final", starts_at=ENDED - timedelta(days=1), ends_at=ENDED)
    rows = []
    for i in range(n):
        player = PlayerFactory(external_id=f"p{i:03}")
        rows.append(
            DeltaRow(
                uuid.uuid4(),
                player.pk,
                player.external_id,
                "score",
                i,
                ENDED - timedelta(hours=2),
                0,
            )
        )
    deltas_insert_batch(rows=rows)
    return board


def finalize(board, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert board_finalize(board.pk)


def test_finalising_a_board_sends_its_final_top_100_signed(
    receiver, redis_client, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver.url)
    board = ended_board_with_players(120)

    finalize(board, django_capture_on_commit_callbacks)

    (request,) = receiver.received
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["Content-Type"] == "application/json"
    assert payload["type"] == "board.finalized"
    assert payload["data"]["board"]["slug"] == "final"
    assert payload["data"]["board"]["finalized_at"] is not None
    assert payload["data"]["count"] == 120
    results = payload["data"]["results"]
    assert len(results) == 100
    assert results[0] == {"rank": 1, "player_id": "p119", "display_name": "P119", "score": 119}
    assert results[-1]["rank"] == 100
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED


def test_a_signature_under_another_secret_or_of_another_body_does_not_verify(
    receiver, redis_client, django_capture_on_commit_callbacks
):
    endpoint_for(receiver.url)
    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)
    (request,) = receiver.received

    other_secret = endpoint_for(receiver.url).secret
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(Endpoint.objects.last().secret).verify(request.body + b" ", request.headers)


def test_a_500_is_retried_with_the_same_webhook_id(
    receiver, redis_client, django_capture_on_commit_callbacks, hooks_client
):
    receiver.statuses = [500, 503]
    endpoint = endpoint_for(receiver.url)

    finalize(ended_board_with_players(3), django_capture_on_commit_callbacks)

    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    for request in receiver.received:
        Webhook(endpoint.secret).verify(request.body, request.headers)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 3)
    log = hooks_client.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/?limit=2").json()
    assert log["count"] == 3
    assert [a["status_code"] for a in log["results"]] == [200, 503]
    assert log["results"][1]["error"] == "Answered 503."
    assert {a["message_id"] for a in log["results"]} == {receiver.received[0].headers["webhook-id"]}
    assert {a["delivery_status"] for a in log["results"]} == {"succeeded"}
    assert Endpoint.objects.get().failing_since is None  # a success ends the failing run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_recorded_and_retried_until_the_period_ends(
    settings, redis_client, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_RETRY_FOR_SECONDS = 1
    endpoint_for(f"http://127.0.0.1:{free_port()}/hooks")

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    attempts = list(Attempt.objects.all())
    assert len(attempts) == delivery.attempts >= 2
    assert all(a.status_code is None for a in attempts)
    assert all(a.error.startswith("Could not connect") for a in attempts)


def test_no_answer_within_the_timeout_is_a_failed_attempt(
    receiver, settings, redis_client, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    settings.WEBHOOK_RETRY_FOR_SECONDS = 0
    receiver.delay = 1.0
    endpoint_for(receiver.url)

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    (attempt,) = Attempt.objects.all()
    assert attempt.status_code is None
    assert attempt.error == "No answer within 0.3 s."
    assert 250 <= attempt.duration_ms < 1000
    assert Delivery.objects.get().status == Delivery.Status.FAILED


def test_the_url_is_checked_again_before_each_attempt(
    receiver, settings, redis_client, django_capture_on_commit_callbacks
):
    endpoint_for(f"http://localhost:{receiver.port}/hooks")  # allowed when registered
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_RETRY_FOR_SECONDS = 0

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    (attempt,) = Attempt.objects.all()
    assert receiver.received == []
    assert attempt.error.startswith("Refused: The host 'localhost' resolves to")
    assert "a loopback address" in attempt.error


def test_a_name_that_now_resolves_to_a_private_address_is_not_connected_to(
    settings, redis_client, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_RETRY_FOR_SECONDS = 0
    answers = {"hooks.example.com": "93.184.215.14"}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    endpoint_for("https://hooks.example.com/hooks")
    answers["hooks.example.com"] = "169.254.169.254"  # rebinding, after registration

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    (attempt,) = Attempt.objects.all()
    assert "169.254.169.254, a link-local address" in attempt.error


def test_the_host_header_names_the_url_while_the_connection_goes_to_the_checked_address(
    receiver, redis_client, django_capture_on_commit_callbacks
):
    endpoint_for(f"http://localhost:{receiver.port}/hooks?tenant=7")

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    (request,) = receiver.received
    assert request.headers["Host"] == f"localhost:{receiver.port}"
    assert request.path == "/hooks?tenant=7"


def test_an_endpoint_failing_for_the_disable_period_is_disabled(
    receiver, settings, redis_client, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    receiver.statuses = [500]
    endpoint = endpoint_for(receiver.url, "board.finalized")

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason.startswith("Disabled: every attempt failed")
    assert Delivery.objects.get().status == Delivery.Status.FAILED
    assert len(receiver.received) == 1
    # Disabled, it gets no new messages.
    other = BoardFactory(slug="other", starts_at=ENDED - timedelta(days=1), ends_at=ENDED)
    finalize(other, django_capture_on_commit_callbacks)
    assert Message.objects.count() == 2
    assert Delivery.objects.count() == 1


def test_retries_wait_exponentially_the_first_within_30_seconds(settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 3600

    delays = [services.retry_delay(n) for n in range(1, 12)]

    assert delays[:4] == [10, 20, 40, 80]
    assert delays[0] <= 30
    assert delays[-1] == 3600


def test_an_attempt_is_made_once_however_often_its_task_runs(
    receiver, redis_client, django_capture_on_commit_callbacks
):
    endpoint_for(receiver.url)
    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()

    tasks.delivery_attempt.delay(delivery.pk)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None

    assert len(receiver.received) == 1
    assert Attempt.objects.count() == 1


def test_a_redelivery_sends_the_same_message_again(
    receiver, redis_client, django_capture_on_commit_callbacks, admin_client
):
    endpoint_for(receiver.url)
    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/webhooks/delivery/",
            {"action": "redeliver", "_selected_action": [delivery.pk]},
        )

    assert response.status_code == 302
    first, again = receiver.received
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    assert Attempt.objects.count() == 2


def test_the_sweep_sends_what_a_lost_task_left_pending(receiver, redis_client):
    endpoint = endpoint_for(receiver.url)
    board = ended_board_with_players(1)
    services.board_event_publish(event="board.finalized", board_id=board.pk)  # never queued
    Delivery.objects.update(next_attempt_at=datetime.now(UTC) - timedelta(minutes=5))

    swept = tasks.deliveries_sweep()

    assert swept == [Delivery.objects.get().pk]
    assert len(receiver.received) == 1
    assert Delivery.objects.get(endpoint=endpoint).status == Delivery.Status.SUCCEEDED


def test_a_series_window_is_announced_once_however_often_the_rollover_runs(
    receiver, store, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver.url, "board.started")
    series_create(slug="daily", name="Daily", period="daily")

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            series_rollover()

    (request,) = receiver.received
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "board.started"
    assert payload["data"]["board"]["series"] == "daily"
    assert payload["data"]["board"]["status"] == "live"
    assert "results" not in payload["data"]


def test_an_endpoint_gets_only_the_events_it_asked_for(
    receiver, redis_client, django_capture_on_commit_callbacks
):
    endpoint_for(receiver.url, "board.started")

    finalize(ended_board_with_players(1), django_capture_on_commit_callbacks)

    assert receiver.received == []
    assert Message.objects.count() == 1  # the message exists, for endpoints that want it
