"""What the project's model admins share (config sits below every app, so each can
import it)."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.db import models
from django.utils.text import capfirst


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


class CountedDeletionAdmin(admin.ModelAdmin):
    """A model admin whose delete confirmation (the page and the bulk action) counts the
    rows that hang off the objects instead of listing each one: a player of a busy game
    holds hundreds of thousands of deltas, and Django's page rendered every one of them.
    One COUNT per relation; rows that protect the objects (PROTECT, RESTRICT) are counted
    in the "cannot delete" list, cascaded ones in the summary (their own dependents, one
    level further, are left to the database)."""

    def get_deleted_objects(self, objs, request):
        pks = [obj.pk for obj in objs]
        opts = self.model._meta
        deleted = [f"{capfirst(opts.verbose_name)}: {obj}" for obj in objs]
        model_count = {opts.verbose_name_plural: len(pks)}
        perms_needed: set[str] = set()
        protected: list[str] = []
        # Hidden relations too: a foreign key with related_name="+" protects all the same.
        relations = [
            field
            for field in opts.get_fields(include_hidden=True)
            if field.auto_created and not field.concrete and (field.one_to_many or field.one_to_one)
        ]
        for relation in relations:
            related = relation.related_model._meta
            count = (
                relation.related_model._base_manager.filter(
                    **{f"{relation.field.name}__in": pks}
                ).count()
                if pks
                else 0
            )
            if not count:
                continue
            name = related.verbose_name if count == 1 else related.verbose_name_plural
            if relation.on_delete in (models.PROTECT, models.RESTRICT):
                protected.append(f"{count:,} {name}")
            elif relation.on_delete is models.CASCADE:
                deleted.append(f"{capfirst(name)}: {count:,}")
                model_count[related.verbose_name_plural] = count
                model_admin = self.admin_site._registry.get(relation.related_model)
                if model_admin is not None and not model_admin.has_delete_permission(request):
                    perms_needed.add(related.verbose_name)
        return deleted, model_count, perms_needed, protected


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
