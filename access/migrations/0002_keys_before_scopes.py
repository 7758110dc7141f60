"""The keys made before scopes existed (djangorestframework-api-key's own model) move to
ours with every scope, so each keeps working as it did: same prefix, hash, name, creation
time, revocation and expiry. Reversed, they move back (their scopes are forgotten). SQL,
because the ORM would stamp `created` anew."""

from django.db import migrations

COLUMNS = "id, prefix, hashed_key, created, name, revoked, expiry_date"

FORWARD = f"""
INSERT INTO access_apikey ({COLUMNS}, scopes)
SELECT {COLUMNS}, ARRAY['events:write', 'boards:write', 'rejected:read']::varchar(32)[]
FROM rest_framework_api_key_apikey;
DELETE FROM rest_framework_api_key_apikey;
"""

BACKWARD = f"""
INSERT INTO rest_framework_api_key_apikey ({COLUMNS})
SELECT {COLUMNS} FROM access_apikey;
DELETE FROM access_apikey;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_api_key"),
        ("rest_framework_api_key", "0005_auto_20220110_1102"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
