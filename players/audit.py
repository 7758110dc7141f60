"""The moderation audit log: who banned, unbanned, removed a score or erased whom, when and
why (issue 21). Entries are written in the transaction of the action they record, so an
action that rolls back leaves no entry, and one that commits always has one."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from players.models import AuditAction, AuditEntry


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key (by its name) or an admin user (by username)."""

    name: str
    kind: str  # "api_key" or "admin"

    @classmethod
    def api_key(cls, name: str) -> Actor:
        return cls(name=name, kind="api_key")

    @classmethod
    def admin(cls, username: str) -> Actor:
        return cls(name=username, kind="admin")


def player_hash(external_id: str) -> str:
    """A keyed hash of the external id (HMAC-SHA256 under the secret key): what an erasure
    keeps instead of the id."""
    key = hashlib.sha256(b"players.audit:" + str(settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, external_id.encode(), hashlib.sha256).hexdigest()


def audit_record(
    *,
    action: AuditAction,
    actor: Actor,
    reason: str = "",
    player_id: str = "",
    board: str = "",
) -> AuditEntry:
    """Record one action, in the caller's transaction. An erasure is recorded with the
    player's keyed hash only."""
    if action == AuditAction.ERASE:
        return AuditEntry.objects.create(
            action=action,
            actor=actor.name,
            actor_kind=actor.kind,
            reason=reason,
            player_hash=player_hash(player_id),
            board=board,
        )
    return AuditEntry.objects.create(
        action=action,
        actor=actor.name,
        actor_kind=actor.kind,
        reason=reason,
        player_id=player_id,
        board=board,
    )


def audit_entries() -> QuerySet[AuditEntry]:
    """Every entry, newest first."""
    return AuditEntry.objects.order_by("-created_at", "-id")
