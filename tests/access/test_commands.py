"""`create_api_key` and `revoke_api_key`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from access.models import ApiKey

pytestmark = pytest.mark.django_db


def create(*args: str) -> tuple[str, str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    *message, key = out.getvalue().strip().splitlines()
    return "\n".join(message), key


def test_a_key_gets_the_scopes_named_and_no_others():
    message, key = create("game-server", "--scope", "events:write", "--scope", "events:write")

    api_key = ApiKey.objects.get_from_key(key)
    assert api_key.scopes == ["events:write"]
    assert "with scopes events:write" in message


def test_a_key_without_scopes_gets_none_and_all_scopes_gets_every_one():
    message, key = create("reader")
    assert ApiKey.objects.get_from_key(key).scopes == []
    assert "none (public reads only)" in message

    _, key = create("ops", "--all-scopes")
    assert ApiKey.objects.get_from_key(key).scopes == [
        "events:write",
        "boards:write",
        "rejected:read",
        "webhooks:write",
        "players:moderate",
    ]


def test_a_key_can_expire():
    message, key = create("temp", "--expires-at", "2027-06-30T00:00:00+02:00")

    assert ApiKey.objects.get_from_key(key).expiry_date.isoformat() == "2027-06-29T22:00:00+00:00"
    assert "expiring 2027-06-30T00:00:00+02:00" in message


@pytest.mark.parametrize("value", ["tomorrow", "2027-06-30T00:00:00", "2027-02-30T00:00:00Z"])
def test_an_unreadable_expiry_is_refused(value):
    with pytest.raises(CommandError, match="not an ISO 8601 time with an offset"):
        create("temp", "--expires-at", value)
    assert not ApiKey.objects.exists()


def test_an_unknown_scope_is_refused():
    with pytest.raises(CommandError, match="invalid choice: 'boards:delete'"):
        create("x", "--scope", "boards:delete")


def test_revoking_stops_a_key_for_good():
    _, key = create("gone", "--all-scopes")
    prefix = key.partition(".")[0]

    out = StringIO()
    call_command("revoke_api_key", prefix, stdout=out)

    assert not ApiKey.objects.is_valid(key)
    assert f"Revoked API key {prefix}" in out.getvalue()
    with pytest.raises(CommandError, match="No API key has the prefix 'nope'"):
        call_command("revoke_api_key", "nope")
