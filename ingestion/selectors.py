"""Reads of what the consumer stored."""

from __future__ import annotations

from ingestion.models import ConsumerOffset


def offsets_for_topic(*, topic: str) -> dict[int, int]:
    """Next offset to read per partition, as stored with the deltas."""
    return dict(ConsumerOffset.objects.filter(topic=topic).values_list("partition", "next_offset"))
