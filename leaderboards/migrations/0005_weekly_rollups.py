# Weekly rollups (ISO weeks, UTC), the coarsest grain standings read. Existing deltas
# below the watermark are in the daily rollups, so the weekly rows are filled from those,
# under the advisory lock rollups_advance takes: no run merges in between, and the first
# run after this migration merges into all three grains. Stop the Celery worker while
# migrating: a worker still running the previous code would keep merging deltas into the
# hourly and daily rollups only.

import django.db.models.deletion
from django.db import migrations, models

# leaderboards.rollups._LOCK_KEY (ASCII "rollups"), frozen here as migrations must be.
ROLLUPS_LOCK_KEY = 0x726F6C6C757073

BACKFILL_SQL = f"""
SELECT pg_advisory_xact_lock({ROLLUPS_LOCK_KEY});
INSERT INTO leaderboards_weeklyrollup
    (metric, bucket, player_id, total, best, worst, count,
     last, last_at, last_ingested_at, last_key)
SELECT metric, week, player_id, total, best, worst, count,
       (e).last, (e).last_at, (e).last_ingested_at, (e).last_key
  FROM (SELECT d.metric, date_trunc('week', d.bucket, 'UTC') AS week, d.player_id,
               sum(d.total) AS total, max(d.best) AS best, min(d.worst) AS worst,
               sum(d.count) AS count,
               (array_agg(d ORDER BY d.last_at DESC, d.last_ingested_at DESC,
                                     d.last_key DESC))[1] AS e
          FROM leaderboards_dailyrollup d
         GROUP BY 1, 2, 3) weeks;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0004_board_late_events"),
        ("players", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="WeeklyRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("metric", models.CharField(max_length=64)),
                ("bucket", models.DateTimeField()),
                ("total", models.BigIntegerField()),
                ("best", models.BigIntegerField()),
                ("worst", models.BigIntegerField()),
                ("count", models.BigIntegerField()),
                ("last", models.BigIntegerField()),
                ("last_at", models.DateTimeField()),
                ("last_ingested_at", models.DateTimeField()),
                ("last_key", models.UUIDField()),
                (
                    "player",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="players.player",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("metric", "bucket", "player"), name="weekly_rollup_key"
                    )
                ],
            },
        ),
        migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop),
        # As for the other grains (0003): a week's rows as an index-only scan. The table is
        # new, so the index is built in this transaction rather than CONCURRENTLY.
        migrations.RunSQL(
            "CREATE INDEX weekly_rollup_cover ON leaderboards_weeklyrollup"
            " (metric, bucket) INCLUDE (player_id, total, best, worst)",
            "DROP INDEX weekly_rollup_cover",
        ),
    ]
