"""Keys made before scopes existed keep working after the migration, with every scope."""

from __future__ import annotations

from django.core.management import call_command
from rest_framework.test import APIClient

ALL_SCOPES = ["events:write", "boards:write", "rejected:read"]


def test_existing_keys_move_to_scoped_keys_with_every_scope_and_keep_working(migrator, topic):
    old_state = migrator.apply_initial_migration(("access", None))
    OldKey = old_state.apps.get_model("rest_framework_api_key", "APIKey")
    # The library's own manager makes the key (the historical model has a plain one).
    from rest_framework_api_key.models import APIKey

    old, key = APIKey.objects.create_key(name="game-server")
    revoked, _ = APIKey.objects.create_key(name="retired", revoked=True)
    created = OldKey.objects.get(prefix=old.prefix).created

    new_state = migrator.apply_tested_migration(("access", "0002_keys_before_scopes"))

    ApiKey = new_state.apps.get_model("access", "ApiKey")
    moved = ApiKey.objects.get(prefix=old.prefix)
    assert (moved.name, moved.scopes, moved.created) == ("game-server", ALL_SCOPES, created)
    assert ApiKey.objects.get(prefix=revoked.prefix).revoked
    assert not OldKey.objects.exists()
    call_command("migrate", verbosity=0)  # the other apps' tables, for the request below
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post("/api/v1/events/", {"player_id": "p1", "delta": 1}, format="json")
    assert response.status_code == 202, response.content
    assert client.get("/api/v1/rejected-events/").status_code == 200


def test_the_migration_reverses(migrator):
    state = migrator.apply_initial_migration(("access", "0002_keys_before_scopes"))
    ApiKey = state.apps.get_model("access", "ApiKey")
    ApiKey.objects.create(id="abc.def", prefix="abc", hashed_key="def", name="k", scopes=[])

    state = migrator.apply_tested_migration(("access", "0001_api_key"))

    OldKey = state.apps.get_model("rest_framework_api_key", "APIKey")
    assert list(OldKey.objects.values_list("prefix", "name")) == [("abc", "k")]
