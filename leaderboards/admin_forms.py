"""The admin's forms for boards and series, laid out for someone running a promotion: what
a board is (name, slug, metric, window) first, weekdays by name, time zones picked from
the IANA names, and a board's window typed and shown as wall-clock times in a zone the
form names (the series' zone, or UTC, unless another is picked)."""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from leaderboards.models import TOURNAMENT_FIELDS, Board, Series
from leaderboards.windows import WINDOW_RANGE_MESSAGE

WINDOW_FIELDS = ("starts_at", "ends_at")


@functools.cache
def iana_zones() -> tuple[str, ...]:
    """Every IANA time zone name this Python knows, sorted."""
    return tuple(sorted(available_timezones()))


class TimeZoneInput(forms.TextInput):
    """A text input that suggests IANA names as one types (an HTML datalist): searchable
    by any part of the name, with no script."""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        attrs = {**(attrs or {}), "list": f"{name}-zones", "autocomplete": "off"}
        attrs.setdefault("placeholder", "e.g. Europe/Berlin")
        return super().get_context(name, value, attrs)

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((zone,) for zone in iana_zones()))
        return format_html('{}<datalist id="{}-zones">{}</datalist>', field, name, options)


class TimeZoneField(forms.CharField):
    """An IANA time zone name, exactly as the database spells it (case included)."""

    widget = TimeZoneInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def validate(self, value: str) -> None:
        super().validate(value)
        if value and value not in iana_zones():
            raise ValidationError(
                f"{value!r} is not an IANA time zone, e.g. Europe/Berlin.", code="timezone"
            )


WEEKDAY_CHOICES = [("", "---------"), *((day, calendar.day_name[day]) for day in range(7))]


class SeriesAdminForm(forms.ModelForm):
    timezone = TimeZoneField(
        initial="UTC",
        help_text="The IANA zone whose wall clock the windows follow (type to search).",
    )
    reset_weekday = forms.TypedChoiceField(
        choices=WEEKDAY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        label="Reset weekday",
        help_text="Weekly series only: the day each window starts.",
    )

    class Meta:
        model = Series
        fields = [
            "name",
            "slug",
            "metric",
            "period",
            "timezone",
            "reset_time",
            "reset_weekday",
            "aggregation",
            "sort_order",
            "tie_break",
            *TOURNAMENT_FIELDS,
        ]
        help_texts = {
            "reset_time": "When each window starts, on the wall clock of the series' time zone.",
        }


def wall_time_in_zone(typed: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time typed in a form (parsed as if in the current time
    zone) means in `zone`. Raises ValidationError for a time the clocks skip (a
    spring-forward gap) or one outside the range windows may lie in; an hour the clocks
    repeat is its first occurrence."""
    wall = timezone.make_naive(typed) if timezone.is_aware(typed) else typed
    local = wall.replace(tzinfo=zone)
    try:
        instant = local.astimezone(UTC)
    except OverflowError:
        raise ValidationError(WINDOW_RANGE_MESSAGE, code="window_range") from None
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        raise ValidationError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it. "
            "Pick a time outside the gap.",
            code="nonexistent_time",
        )
    return instant


class BoardAdminForm(forms.ModelForm):
    """starts_at and ends_at are typed, and shown, as wall-clock times in `window_timezone`
    (by default the series' zone, or UTC for a board of no series)."""

    window_timezone = TimeZoneField(
        required=False,
        label="Window time zone",
        help_text="Starts at and ends at are wall-clock times in this zone (type to search). "
        "Empty: the series' zone, or UTC.",
    )

    class Meta:
        model = Board
        fields = [
            "name",
            "slug",
            "metric",
            "starts_at",
            "ends_at",
            "aggregation",
            "sort_order",
            "tie_break",
            "series",
            *TOURNAMENT_FIELDS,
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone = self.default_zone()
        self.initial.setdefault("window_timezone", zone)
        shown = self.data.get("window_timezone") if self.is_bound else zone
        shown = shown if shown in iana_zones() else zone
        for name in WINDOW_FIELDS:
            if name not in self.fields:
                continue
            self.fields[name].label = f"{self.fields[name].label} ({shown})"
            value = getattr(self.instance, name, None)
            if isinstance(value, datetime) and not self.is_bound:
                self.initial[name] = timezone.make_naive(value, ZoneInfo(zone))

    def default_zone(self) -> str:
        series = self.instance.series if self.instance.series_id else None
        return series.timezone if series is not None else "UTC"

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if "window_timezone" in self.errors:
            return cleaned
        zone_name = cleaned.get("window_timezone")
        if not zone_name:
            series = cleaned.get("series")
            zone_name = series.timezone if series is not None else self.default_zone()
            cleaned["window_timezone"] = zone_name
        zone = ZoneInfo(zone_name)
        for name in WINDOW_FIELDS:
            typed = cleaned.get(name)
            if typed is None:
                continue
            try:
                cleaned[name] = wall_time_in_zone(typed, zone)
            except ValidationError as error:
                self.add_error(name, error)
        return cleaned
