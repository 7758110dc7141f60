"""Players: the people on the boards, known by the external id game servers send."""

from django.db import models
from django.db.models.functions import Now

from players.profiles import DISPLAY_NAME_MAX_LENGTH, PLAYER_ID_MAX_LENGTH


class Player(models.Model):
    external_id = models.CharField(max_length=PLAYER_ID_MAX_LENGTH, unique=True)
    # Blank until someone names the player; pages show the external id instead.
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH, blank=True, db_default="")
    # When the name was set: the `created_at` of the event that carried it, or the time of
    # the API call or admin edit. A name from an event older than this does not replace it.
    display_name_at = models.DateTimeField(null=True, blank=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True, db_default={})
    created_at = models.DateTimeField(db_default=Now(), editable=False)
    # A ban hides the player from every ranking and keeps everything else (issue 21):
    # set and cleared only by leaderboards/moderation.py, which re-ranks what it changes.
    banned_at = models.DateTimeField(null=True, blank=True, editable=False)
    ban_reason = models.TextField(blank=True, db_default="", editable=False)
    # Erasure (leaderboards/erasure.py): whether this row's id was looked up among the
    # tombstones, and if a player of that id was erased, when. Events of the id stamped at
    # or before `replays_until` replay the erased player's and are dropped. The consumer
    # checks the rows it creates as it creates them; a row made any other way (the profile
    # API, a join, the admin) starts unchecked and is checked on its first event.
    tombstone_checked = models.BooleanField(db_default=False, editable=False)
    replays_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["external_id"]
        indexes = [
            # Rankings read the banned ids on every query: a tiny index, not a table scan.
            models.Index(
                fields=["id"], condition=models.Q(banned_at__isnull=False), name="player_banned"
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.external_id

    @property
    def name(self) -> str:
        return self.display_name or self.external_id


class AuditAction(models.TextChoices):
    BAN = "ban", "ban"
    UNBAN = "unban", "unban"
    REMOVE_SCORE = "remove_score", "remove score"
    ERASE = "erase", "erase"
    EXPORT = "export", "export"
    REOPEN = "reopen", "reopen a finalised board"


class AuditEntry(models.Model):
    """One moderation action, kept for ever and never edited. An erasure names its player
    by `player_hash` only (players/audit.py), never by id or name."""

    action = models.CharField(max_length=16, choices=AuditAction.choices)
    reason = models.TextField(blank=True, default="")
    # Who did it: the API key's name (`actor_kind` api_key) or the admin user's username.
    actor = models.CharField(max_length=150)
    actor_kind = models.CharField(max_length=16)
    # The player's external id (not a foreign key: an erased player's entries outlive it).
    player_id = models.CharField(max_length=PLAYER_ID_MAX_LENGTH, blank=True, default="")
    player_hash = models.CharField(max_length=64, blank=True, default="")
    board = models.SlugField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(db_default=Now(), editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return f"{self.action} {self.player_id or self.player_hash} by {self.actor}"


class Tombstone(models.Model):
    """An erased player, known by the keyed hash of its external id only (players/audit.py):
    an event of that id stamped at or before `erased_at` is a replay of what was erased,
    and is dropped (players/erasure.py)."""

    player_hash = models.CharField(max_length=64, primary_key=True)
    erased_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.player_hash[:12]}… erased at {self.erased_at:%Y-%m-%d %H:%M:%S}"
