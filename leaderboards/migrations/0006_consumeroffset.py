"""Consumer offsets move from the ingestion app to the delta log they are stored with: the
table is renamed, its rows stay."""

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0005_weekly_rollups"),
        ("ingestion", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE ingestion_consumeroffset RENAME TO leaderboards_consumeroffset",
                    "ALTER TABLE leaderboards_consumeroffset RENAME TO ingestion_consumeroffset",
                )
            ],
            state_operations=[
                migrations.CreateModel(
                    name="ConsumerOffset",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("topic", models.CharField(max_length=255)),
                        ("partition", models.IntegerField()),
                        ("next_offset", models.BigIntegerField()),
                        (
                            "updated_at",
                            models.DateTimeField(
                                db_default=django.db.models.functions.datetime.Now()
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["topic", "partition"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("topic", "partition"), name="offset_topic_partition"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
