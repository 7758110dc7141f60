"""ConsumerOffset now lives in the leaderboards app (its migration 0006 renames the table);
here it only leaves the ingestion app's state."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0001_initial"),
        ("leaderboards", "0006_consumeroffset"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="ConsumerOffset")],
        ),
    ]
