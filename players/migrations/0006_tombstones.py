"""Erasure (issue 21): tombstones of erased players (a keyed hash of the id and when), and
on every player whether its id was checked against them and, for a player created again
after an erasure, until when its events replay the erased player's.

Rows there before this migration are checked (no player was erased yet); rows created
later start unchecked unless the consumer, which checks as it creates, says otherwise."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("players", "0005_audit_export_reopen"),
    ]

    operations = [
        migrations.CreateModel(
            name="Tombstone",
            fields=[
                (
                    "player_hash",
                    models.CharField(max_length=64, primary_key=True, serialize=False),
                ),
                ("erased_at", models.DateTimeField()),
            ],
        ),
        migrations.AddField(
            model_name="player",
            name="tombstone_checked",
            field=models.BooleanField(db_default=True, editable=False),
        ),
        migrations.AlterField(
            model_name="player",
            name="tombstone_checked",
            field=models.BooleanField(db_default=False, editable=False),
        ),
        migrations.AddField(
            model_name="player",
            name="replays_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
