"""Endpoints (where to send), messages (what to send: one per event and board, the body
stored as sent and signed) and deliveries (a message to an endpoint, with every attempt)."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

URL_MAX_LENGTH = 2048
ERROR_MAX_LENGTH = 500


class Event(models.TextChoices):
    BOARD_FINALIZED = "board.finalized", "board.finalized: a board's final standings"
    BOARD_STARTED = "board.started", "board.started: a series window opened"


class Endpoint(models.Model):
    """A receiver's URL and the events it wants. The secret signs every delivery; the API
    shows it once, when the endpoint is registered."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(max_length=URL_MAX_LENGTH)
    events = ArrayField(models.CharField(max_length=32, choices=Event.choices))
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The first failure since the last success: an endpoint failing for
    # WEBHOOK_DISABLE_AFTER_SECONDS is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


class Message(models.Model):
    """One event about one board (`key`, unique: announcing it again is a no-op), the body
    exactly as every attempt sends and signs it. Its id is the `webhook-id` header."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    event = models.CharField(max_length=32, choices=Event.choices)
    key = models.CharField(max_length=200, unique=True)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} {self.id}"


class Delivery(models.Model):
    """A message to an endpoint: pending until a 2xx answer (succeeded) or until
    `give_up_at` passes (failed)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due (pending only); an attempt under way holds it ahead.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    give_up_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message"], name="delivery_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.message_id} to {self.endpoint_id}"


class Attempt(models.Model):
    """One HTTP attempt of a delivery: its answer's status, or why there was none."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=ERROR_MAX_LENGTH, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        indexes = [models.Index(fields=["delivery", "attempted_at"])]

    def __str__(self) -> str:
        return f"{self.status_code or self.error} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
