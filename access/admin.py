"""API keys in the admin: made (the key is shown once), given scopes, revoked, set to
expire. The library's own, scopeless key model is hidden: its keys moved to ours."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from access.models import ApiKey, Scope


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="What the key may do; without any it can only read public data.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expiry_date", "revoked"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    # The library's admin leaves these unannotated, so its stubs pin them to tuples of
    # exactly its own length: adding a column is no error.
    list_display = (*APIKeyModelAdmin.list_display, "scope_list")  # type: ignore[assignment]
    list_filter = ("revoked", "created")  # type: ignore[assignment]

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) or "none"


admin.site.unregister(APIKey)
