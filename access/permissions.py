"""API access: reads are public; a write, and a read of what is private, needs an API key
(`Authorization: Api-Key <key>`) that holds the view's scope (`api_key_scope`).

A refusal is a 403 whose `detail` says what is wrong: no key, a key that is unknown or
revoked, one that has expired, or one without the scope, named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework_api_key.permissions import KeyParser

from access.models import ApiKey

if TYPE_CHECKING:
    # Not at run time: rest_framework.views reads the permission settings, which name us.
    from rest_framework.request import Request
    from rest_framework.views import APIView

NO_KEY = "This needs an API key: send the header 'Authorization: Api-Key <key>'."
UNKNOWN_KEY = "This API key is unknown or has been revoked."
EXPIRED_KEY = "This API key has expired."
_API_KEY_ATTRIBUTE = "_scoped_api_key"


def request_api_key(request: Request) -> ApiKey | None:
    """The API key a scoped permission accepted for this request, if any."""
    return getattr(request, _API_KEY_ATTRIBUTE, None)


class HasScopedApiKey(BasePermission):
    """Every method needs a valid key with the view's scope (rejected events)."""

    message = NO_KEY
    key_parser = KeyParser()

    def has_permission(self, request: Request, view: APIView) -> bool:
        scope = getattr(view, "api_key_scope", None)
        if scope is None:
            # A view declares the scope of the methods it serves; one it does not serve
            # goes on to a 405. A handler without a scope is refused, never left open
            # (tests/access/test_permissions.py checks that every write view names one), and
            # so is a request without a method, which no server sends.
            return request.method is not None and not hasattr(view, request.method.lower())
        key = self.key_parser.get(request)
        if not key:
            return False
        try:
            # The library types its manager for the abstract model; ours returns an ApiKey.
            api_key = cast(
                "ApiKey | None", ApiKey.objects.get_from_key(key) if "\x00" not in key else None
            )
        except ApiKey.DoesNotExist:
            api_key = None
        if api_key is None:
            self.message = UNKNOWN_KEY
            return False
        if api_key.has_expired:
            self.message = EXPIRED_KEY
            return False
        if not api_key.has_scope(scope):
            self.message = f"This API key lacks the scope '{scope}'."
            return False
        # The view may name who acted (the moderation audit log): keep the key it checked.
        setattr(request, _API_KEY_ATTRIBUTE, api_key)
        return True


class ReadOnlyOrScopedApiKey(HasScopedApiKey):
    """Reads are public; writes need a key with the view's scope (the API's default)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)
