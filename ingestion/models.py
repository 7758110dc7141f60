"""What the consumer keeps besides the deltas and their offsets (leaderboards/models.py): the
events it had to reject."""

from django.db import models
from django.db.models.functions import Now


class RejectedEvent(models.Model):
    """A message the consumer could not accept, kept byte for byte with the reason."""

    topic = models.CharField(max_length=255)
    partition = models.IntegerField(null=True, blank=True)
    offset = models.BigIntegerField(null=True, blank=True)
    key = models.BinaryField(null=True, blank=True)
    raw = models.BinaryField()
    reason = models.CharField(max_length=64, db_index=True)
    detail = models.TextField(blank=True, db_default="")
    received_at = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A replayed batch must not store the same rejection twice.
            models.UniqueConstraint(
                fields=["topic", "partition", "offset"], name="rejected_event_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reason} at {self.topic}[{self.partition}]@{self.offset}"

    @property
    def raw_text(self) -> str:
        return bytes(self.raw).decode("utf-8", errors="replace")
