"""API keys with scopes: what a key may do, besides reading what is public.

djangorestframework-api-key's abstract key (hashed, prefixed, revocable, with an expiry
date) plus the scopes granted to it. A key is created with the scopes it is given and no
others; the migration that brought scopes gave every key that existed then all of them.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    EVENTS_WRITE = "events:write", "events:write: send score events over HTTP"
    BOARDS_WRITE = "boards:write", "boards:write: create and change boards and series"
    REJECTED_READ = "rejected:read", "rejected:read: read rejected events and their payloads"
    WEBHOOKS_WRITE = "webhooks:write", "webhooks:write: register, list and remove webhooks"
    PLAYERS_MODERATE = (
        "players:moderate",
        "players:moderate: ban, unban, remove scores and read the audit log",
    )


class ApiKey(AbstractAPIKey):
    scopes = ArrayField(
        models.CharField(max_length=32, choices=Scope.choices),
        default=list,
        blank=True,
        help_text="What the key may do; a key without scopes can only read public data.",
    )

    class Meta(AbstractAPIKey.Meta):
        abstract = False
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
