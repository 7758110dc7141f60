"""Serializers the board and series APIs share: the shapes of a board, a series and an
entry (a ranked player: also what a player's standing answers), and fields of inputs."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from leaderboards.models import (
    METRIC_PATTERN,
    TIE_BREAK_HELP,
    TOURNAMENT_LIMIT_MAX,
    Aggregation,
    Board,
    Participant,
    Series,
    SortOrder,
    TieBreak,
)
from leaderboards.windows import validate_window_instant

# The metric names events may carry (RegexField searches, so anchor the contract's pattern).
METRIC_REGEX = rf"^(?:{METRIC_PATTERN.pattern})\Z"


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a naive time is ambiguous."""

    default_error_messages = {
        "naive": "Give a time zone offset, e.g. 2026-01-01T00:00:00Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well formed but impossible, e.g. minute 99
                parsed = None  # DateTimeField reports it as invalid
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


class WindowInstantField(AwareDateTimeField):
    """A start or end of a window (a board's, a standings range): an AwareDateTimeField
    within the range leaderboards/windows.py allows."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.validators.append(validate_window_instant)


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "example": "02:00"}
)
class WallClockTimeField(serializers.TimeField):
    """A time of day as HH:MM (seconds accepted on input). OpenAPI's `time` format would
    demand seconds and an offset, which a wall-clock reset time does not have."""


def validated_input(serializer_class: type[serializers.Serializer], data) -> dict:
    """A query string or a request body validated by `serializer_class`, through one
    long-lived instance of it: building a serializer deep-copies its fields, which costs
    more than checking two numbers does. The errors are the serializer's own (a
    ValidationError with its field map), and `run_validation` keeps no state on the
    instance. An empty query string (most requests) gives the defaults, validated once."""
    validator = _validators.get(serializer_class)
    if validator is None:
        validator = _validators[serializer_class] = serializer_class()
    if not data:
        defaults = _defaults.get(serializer_class)
        if defaults is None:  # a required field raises here, as for any empty query
            defaults = _defaults[serializer_class] = validator.run_validation({})
        return dict(defaults)
    return validator.run_validation(data)


_validators: dict[type[serializers.Serializer], serializers.Serializer] = {}
_defaults: dict[type[serializers.Serializer], dict] = {}


class RulesInputSerializer(serializers.Serializer):
    """What a new board and a new series share besides their window: how scores combine,
    sort and break ties, and the tournament and league rules (a series gives them to every
    window)."""

    aggregation = serializers.ChoiceField(choices=Aggregation.choices, default="sum")
    sort_order = serializers.ChoiceField(choices=SortOrder.choices, default="desc")
    tie_break = serializers.ChoiceField(
        choices=TieBreak.choices, default="player_id", help_text=TIE_BREAK_HELP
    )
    join_required = serializers.BooleanField(
        default=False, help_text=Board._meta.get_field("join_required").help_text
    )
    max_participants = serializers.IntegerField(
        min_value=1, max_value=TOURNAMENT_LIMIT_MAX, allow_null=True, default=None,
        help_text=Board._meta.get_field("max_participants").help_text,
    )  # fmt: skip
    max_attempts = serializers.IntegerField(
        min_value=1, max_value=TOURNAMENT_LIMIT_MAX, allow_null=True, default=None,
        help_text=Board._meta.get_field("max_attempts").help_text,
    )  # fmt: skip
    bucket_size = serializers.IntegerField(
        min_value=1, max_value=TOURNAMENT_LIMIT_MAX, allow_null=True, default=None,
        help_text=Board._meta.get_field("bucket_size").help_text,
    )  # fmt: skip


@extend_schema_serializer(component_name="Entry")
class EntryOutputSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    player_id = serializers.CharField()
    display_name = serializers.CharField()
    score = serializers.IntegerField()


@extend_schema_serializer(component_name="Board")
class BoardOutputSerializer(serializers.ModelSerializer):
    series = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-board-detail", lookup_field="slug")
    entries_url = serializers.HyperlinkedIdentityField(
        view_name="api-board-entries", lookup_field="slug"
    )

    class Meta:
        model = Board
        fields = [
            "slug",
            "name",
            "metric",
            "starts_at",
            "ends_at",
            "aggregation",
            "sort_order",
            "tie_break",
            "join_required",
            "max_participants",
            "max_attempts",
            "bucket_size",
            "status",
            "finalized_at",
            "series",
            "url",
            "entries_url",
        ]


@extend_schema_serializer(component_name="Series")
class SeriesOutputSerializer(serializers.ModelSerializer):
    reset_time = WallClockTimeField(format="%H:%M")
    url = serializers.HyperlinkedIdentityField(view_name="api-series-detail", lookup_field="slug")
    current_url = serializers.HyperlinkedIdentityField(
        view_name="api-series-current", lookup_field="slug"
    )
    boards_url = serializers.HyperlinkedIdentityField(
        view_name="api-series-boards", lookup_field="slug"
    )

    class Meta:
        model = Series
        fields = [
            "slug",
            "name",
            "metric",
            "period",
            "reset_time",
            "reset_weekday",
            "timezone",
            "aggregation",
            "sort_order",
            "tie_break",
            "join_required",
            "max_participants",
            "max_attempts",
            "bucket_size",
            "url",
            "current_url",
            "boards_url",
        ]


@extend_schema_serializer(component_name="Participant")
class ParticipantOutputSerializer(serializers.ModelSerializer):
    player_id = serializers.CharField(source="player.external_id")
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = Participant
        fields = ["player_id", "display_name", "joined_at"]

    def get_display_name(self, participant: Participant) -> str | None:
        return participant.player.display_name or None
