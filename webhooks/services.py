"""Writes of webhooks: registering and removing endpoints, turning a board's event into a
message and its deliveries, and one attempt of a delivery (with its retry schedule, the
give-up and the disabling of an endpoint that keeps failing).

Attempts run in Celery (tasks.py): `delivery_attempt` claims a due delivery, sends it
outside any transaction, records the attempt and says when to try again.
"""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.timezone import now as timezone_now
from standardwebhooks.webhooks import Webhook

from config.renderers import JSONRenderer
from leaderboards.models import Board
from players.erasure import REDACTED
from webhooks.addresses import UnsafeUrl, target_resolve
from webhooks.models import Attempt, Delivery, Endpoint, Message
from webhooks.payloads import message_body
from webhooks.transport import AttemptOutcome, post

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64
USER_AGENT = "Promofy-Webhooks/1"

_encode = msgspec.json.Encoder().encode


def endpoint_create(*, url: str, events: Sequence[str]) -> Endpoint:
    """Register an endpoint, its URL checked (addresses.py) and a new secret made; the
    caller shows `endpoint.secret` once."""
    try:
        target_resolve(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    except UnsafeUrl as exc:
        raise ValidationError({"url": [str(exc)]}) from exc
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    endpoint = Endpoint(url=url, events=list(dict.fromkeys(events)), secret=secret)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Remove an endpoint; its deliveries and their attempts go with it."""
    endpoint.delete()


def endpoint_enable(*, endpoint: Endpoint) -> None:
    """Take a disabled endpoint back: it gets new messages again (not the ones it missed:
    redeliver those)."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        disabled_at=None, disabled_reason="", failing_since=None
    )


def board_event_publish(*, event: str, board_id: int, now: datetime | None = None) -> list[int]:
    """The message of `event` about the board, once: its deliveries to every enabled
    endpoint that wants the event, whose ids are returned (to send after the commit). A
    second call about the same board and event creates nothing and returns []."""
    now = now or timezone_now()
    key = f"{event}:{board_id}"
    with transaction.atomic():
        _message_lock("ROW EXCLUSIVE")
        if Message.objects.filter(key=key).exists():
            return []
        board = Board.objects.filter(pk=board_id).select_related("series").first()
        if board is None:
            return []
        body = message_body(event=event, board=board, at=now)
        return _message_create(event=event, key=key, body=body, now=now)


def _message_lock(mode: str) -> None:
    """A lock on the messages table till the transaction ends. A publish takes ROW
    EXCLUSIVE before it reads the standings it sends, an erasure SHARE before it redacts
    (messages_redact): one waits for the other, so a body read before an erasure commits
    is stored before the erasure looks, and one read after holds nothing of the player."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE webhooks_message IN {mode} MODE")


def _message_create(*, event: str, key: str, body: str, now: datetime) -> list[int]:
    try:
        with transaction.atomic():
            message = Message.objects.create(
                id=f"msg_{uuid.uuid4().hex}", event=event, key=key, body=body, created_at=now
            )
            endpoints = Endpoint.objects.filter(disabled_at=None, events__contains=[event])
            deliveries = Delivery.objects.bulk_create(
                Delivery(
                    endpoint=endpoint,
                    message=message,
                    next_attempt_at=now,
                    give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
                    created_at=now,
                )
                for endpoint in endpoints
            )
    except IntegrityError:  # another process published it at the same time
        return []
    return [delivery.pk for delivery in deliveries]


def messages_redact(*, player_id: str, names: Sequence[str]) -> int:
    """Redact an erased player from the stored message bodies (what a retry sends): in the
    results, their entry's `player_id` and `display_name` (whatever name it was) become
    "[erased]", rank and score kept, and any other string equal to the id or a name too.
    In the caller's transaction (the erasure's); returns how many messages changed."""
    texts = [text for text in (player_id, *names) if text]
    forms = {_encode(text)[1:-1].decode() for text in texts}
    _message_lock("SHARE")
    holding = Message.objects.none()
    for form in forms:
        holding |= Message.objects.filter(body__contains=form)
    changed = 0
    for message in holding:
        body = _redacted(msgspec.json.decode(message.body), player_id, set(texts))
        text = JSONRenderer().render(body).decode()
        if text != message.body:
            Message.objects.filter(pk=message.pk).update(body=text)
            changed += 1
    return changed


def _redacted(value: Any, player_id: str, texts: set[str]) -> Any:
    if isinstance(value, str):
        return REDACTED if value in texts else value
    if isinstance(value, list):
        return [_redacted(item, player_id, texts) for item in value]
    if isinstance(value, dict):
        entry = {key: _redacted(item, player_id, texts) for key, item in value.items()}
        if value.get("player_id") == player_id and "display_name" in entry:
            entry["display_name"] = REDACTED
        return entry
    return value


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: exponential from
    WEBHOOK_RETRY_BASE_SECONDS, at most WEBHOOK_RETRY_MAX_DELAY_SECONDS."""
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (max(attempts, 1) - 1)
    return float(min(delay, settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS))


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Try a delivery once, if it is pending and due, and record the attempt. Returns the
    seconds until the next attempt, or None when there is none to schedule (sent, given
    up, or not this call's to make: safe to call twice, or twice at once)."""
    now = timezone_now()
    # Claim: hold the next attempt ahead for as long as this one may take.
    lease = now + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("endpoint", "message").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_enabled:
        _delivery_finish(delivery, Delivery.Status.FAILED, now)
        return None
    outcome = _send(endpoint, delivery.message)
    finished = timezone_now()
    with transaction.atomic():
        Attempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        delivery.attempts += 1
        if outcome.succeeded:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            _delivery_finish(delivery, Delivery.Status.SUCCEEDED, finished)
            return None
        _endpoint_failed(endpoint, now)
        delay = retry_delay(delivery.attempts)
        if finished + timedelta(seconds=delay) > delivery.give_up_at or not _enabled(endpoint):
            _delivery_finish(delivery, Delivery.Status.FAILED, finished)
            return None
        delivery.next_attempt_at = finished + timedelta(seconds=delay)
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delay


def delivery_redeliver(*, delivery: Delivery) -> None:
    """Send a delivery again (same message, same webhook-id), with a new retry period; the
    caller enqueues it after the commit."""
    if not delivery.endpoint.is_enabled:
        raise ValidationError("The endpoint is disabled: enable it first.")
    now = timezone_now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING,
        next_attempt_at=now,
        give_up_at=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
        finished_at=None,
    )


def message_headers(*, endpoint: Endpoint, message: Message, at: datetime) -> dict[str, str]:
    """Standard Webhooks' headers for one attempt: the message's id, the attempt's time,
    and `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the endpoint's secret."""
    signature = Webhook(endpoint.secret).sign(message.id, at, message.body)
    return {
        "webhook-id": message.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def _send(endpoint: Endpoint, message: Message) -> AttemptOutcome:
    """Check the URL again (DNS may have changed), then POST to the address checked."""
    try:
        target = target_resolve(endpoint.url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)
    except UnsafeUrl as exc:
        return AttemptOutcome(status_code=None, error=f"Refused: {exc}", duration_ms=0)
    headers = message_headers(endpoint=endpoint, message=message, at=timezone_now())
    return post(
        target,
        body=message.body.encode(),
        headers=headers,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )


def _delivery_finish(delivery: Delivery, status: str, at: datetime) -> None:
    delivery.status = status
    delivery.next_attempt_at = None
    delivery.finished_at = at
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "finished_at"])


def _endpoint_failed(endpoint: Endpoint, now: datetime) -> None:
    """Count a failed attempt against the endpoint: the first of a run starts its clock,
    and one WEBHOOK_DISABLE_AFTER_SECONDS after that start disables it."""
    Endpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
    endpoint.refresh_from_db(fields=["failing_since", "disabled_at"])
    since = endpoint.failing_since
    limit = timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    if endpoint.disabled_at is None and since is not None and now - since >= limit:
        reason = f"Disabled: every attempt failed from {since:%Y-%m-%d %H:%M} UTC for {limit}."
        Endpoint.objects.filter(pk=endpoint.pk).update(disabled_at=now, disabled_reason=reason)
        endpoint.disabled_at = now
        Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED, next_attempt_at=None, finished_at=now
        )
        logger.warning("webhook endpoint disabled id=%s url=%s", endpoint.pk, endpoint.url)


def _enabled(endpoint: Endpoint) -> bool:
    return endpoint.disabled_at is None
