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

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.display_name or self.external_id

    @property
    def name(self) -> str:
        return self.display_name or self.external_id
