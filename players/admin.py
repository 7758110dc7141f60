"""Admin for players."""

from django.contrib import admin

from players.models import Player


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "display_name", "created_at"]
    search_fields = ["external_id", "display_name"]
    readonly_fields = ["created_at"]
    show_full_result_count = False  # counting millions of players on every page is slow
