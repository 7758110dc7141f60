"""Admin for players: their profile (display name, metadata) is editable, with the same
rules as the profile API; a name set here counts as set now (an older event's name does
not replace it)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from config.admin import CountedDeletionAdmin, DbDefaultsAdmin
from players.models import AuditEntry, Player
from players.profiles import display_name_problem, metadata_problem


class PlayerForm(forms.ModelForm):
    class Meta:
        model = Player
        fields = ["external_id", "display_name", "metadata"]

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if name and (problem := display_name_problem(name)):
            raise forms.ValidationError(f"This field {problem}.")
        return name

    def clean_metadata(self) -> dict[str, Any]:
        metadata = self.cleaned_data["metadata"]
        if problem := metadata_problem(metadata):
            raise forms.ValidationError(f"This field {problem}.")
        return metadata


@admin.register(Player)
class PlayerAdmin(CountedDeletionAdmin, DbDefaultsAdmin):
    form = PlayerForm
    list_display = ["external_id", "display_name", "created_at"]
    search_fields = ["external_id", "display_name"]
    readonly_fields = ["display_name_at", "created_at"]
    show_full_result_count = False  # counting millions of players on every page is slow

    def save_model(self, request: HttpRequest, obj: Player, form: PlayerForm, change: bool) -> None:
        if "display_name" in form.changed_data:
            obj.display_name_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The moderation audit log, read-only: entries are written by the actions themselves."""

    list_display = ["created_at", "action", "player_id", "player_hash", "board", "actor", "reason"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["player_id", "player_hash", "actor", "reason"]
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
