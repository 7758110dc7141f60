"""API access: reads are public, writes need an API key (`Authorization: Api-Key <key>`)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework_api_key.permissions import HasAPIKey


class ReadOnlyOrApiKey(BasePermission):
    message = "Writes need an API key: send the header 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return HasAPIKey().has_permission(request, view)


class ApiKeyRequired(ReadOnlyOrApiKey):
    """For endpoints whose reads are private too (rejected events)."""

    def has_permission(self, request, view) -> bool:
        return HasAPIKey().has_permission(request, view)
