# Indexes for the rollups (leaderboards/rollups.py) and the standings that read them
# (leaderboards/standings.py). Raw SQL rather than Meta.indexes: only raw SQL uses them.
# Built CONCURRENTLY, so a deploy does not hold up ingestion while they build.

from django.db import migrations


def index(name: str, table: str, definition: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}",
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("leaderboards", "0002_series_rollups_final_standings"),
    ]

    operations = [
        # rollups_advance reads the deltas ingested since the watermark, and standings the
        # tail past it; ingest time only grows, so inserts append at the index's right edge.
        index("delta_ingested", "leaderboards_scoredelta", "(ingested_at)"),
        # A window's whole days and hours as index-only scans for sum, max and min.
        index(
            "hourly_rollup_cover",
            "leaderboards_hourlyrollup",
            "(metric, bucket) INCLUDE (player_id, total, best, worst)",
        ),
        index(
            "daily_rollup_cover",
            "leaderboards_dailyrollup",
            "(metric, bucket) INCLUDE (player_id, total, best, worst)",
        ),
    ]
