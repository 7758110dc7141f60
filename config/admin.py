"""What the project's model admins share (config sits below every app, so each can
import it)."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.db import models


def db_filled_fields(model: type[models.Model]) -> set[str]:
    """Fields the database fills in on insert (`db_default=` and no Python default): an
    unsaved object holds a DatabaseDefault there, not a value."""
    return {
        field.name
        for field in model._meta.concrete_fields
        if field.has_db_default() and not field.has_default()
    }


class DbDefaultsAdmin(admin.ModelAdmin):
    """A model admin whose add page leaves out the read-only fields the database fills in
    (`created_at` and the like): they have no value before the insert, and the page would
    print the unsaved object's `<...DatabaseDefault object at 0x...>` in their place.
    Change pages show them as usual."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        hidden = db_filled_fields(self.model) & set(self.get_readonly_fields(request, obj))
        if not hidden:
            return fieldsets
        return [
            (name, {**options, "fields": _without(options["fields"], hidden)})
            for name, options in fieldsets
        ]


def _without(fields: Sequence, hidden: set[str]) -> list:
    """A fieldset's fields (names, or rows of names) without `hidden`; rows left empty go."""
    kept = []
    for entry in fields:
        if isinstance(entry, list | tuple):
            row = [name for name in entry if name not in hidden]
            if row:
                kept.append(row)
        elif entry not in hidden:
            kept.append(entry)
    return kept
