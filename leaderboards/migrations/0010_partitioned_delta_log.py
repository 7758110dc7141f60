# The delta log becomes a table partitioned by week of created_at (leaderboards/partitions.py
# keeps it so): the plain table is renamed, a partitioned one takes its name, a weekly
# partition is made for every week that holds rows (and this week and the next two), the
# rows are copied, keys and indexes are built once over the loaded partitions, and the old
# table is dropped. A DEFAULT partition takes any row no week partition covers.
#
# It runs in one transaction holding the old table's lock: stop the consumers and the Celery
# worker first. `manage.py migrate` prints how long it took per million rows (timings:
# docs/benchmarks.md, Migrations; the steps: docs/production.md, Upgrade notes).

import time

from django.db import migrations, models

LOG = "leaderboards_scoredelta"
OLD = "leaderboards_scoredelta_unpartitioned"
WEEKS_AHEAD = 2
COLUMNS = "dedupe_key, player_id, metric, delta, created_at, ingested_at"


def _keys_and_indexes(cursor, table: str, *, primary: str) -> None:
    cursor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({primary})")
    cursor.execute(f"CREATE INDEX delta_metric_time ON {table} (metric, created_at)")
    cursor.execute(f"CREATE INDEX delta_ingested ON {table} (ingested_at)")
    cursor.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_player_id_fk_players_player_id"
        " FOREIGN KEY (player_id) REFERENCES players_player (id) DEFERRABLE INITIALLY DEFERRED"
    )


def _set_aside(cursor) -> None:
    """Rename the current table and free its index names for the new one."""
    cursor.execute(f"LOCK TABLE {LOG} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(f"ALTER TABLE {LOG} RENAME TO {OLD}")
    cursor.execute("ALTER INDEX IF EXISTS delta_metric_time RENAME TO delta_metric_time_old")
    cursor.execute("ALTER INDEX IF EXISTS delta_ingested RENAME TO delta_ingested_old")
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'f')",
        [OLD],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{name}" TO "{name[:50]}_old"')


def partition(apps, schema_editor):
    started = time.monotonic()
    with schema_editor.connection.cursor() as cursor:
        _set_aside(cursor)
        cursor.execute(
            f"CREATE TABLE {LOG} (LIKE {OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
        )
        cursor.execute(f"CREATE TABLE {LOG}_default PARTITION OF {LOG} DEFAULT")
        cursor.execute(
            f"SELECT DISTINCT date_trunc('week', created_at, 'UTC') FROM {OLD}"
            " UNION SELECT date_trunc('week', now(), 'UTC') + k * interval '7 days'"
            f" FROM generate_series(0, {WEEKS_AHEAD}) k ORDER BY 1"
        )
        for (monday,) in cursor.fetchall():
            cursor.execute(
                f"CREATE TABLE {LOG}_w{monday:%Y%m%d} PARTITION OF {LOG}"
                " FOR VALUES FROM (%s) TO (%s::timestamptz + interval '7 days')",
                [monday, monday],
            )
        cursor.execute(f"INSERT INTO {LOG} ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
        rows = cursor.rowcount
        _keys_and_indexes(cursor, LOG, primary="dedupe_key, created_at")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ANALYZE {LOG}")
    seconds = time.monotonic() - started
    rate = f" ({seconds / rows * 1_000_000:.1f} s per million rows)" if rows >= 100_000 else ""
    print(f"\n  delta log partitioned: {rows:,} rows in {seconds:.1f} s{rate}", end="")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        _set_aside(cursor)
        cursor.execute(f"CREATE TABLE {LOG} (LIKE {OLD} INCLUDING DEFAULTS)")
        # One row per dedupe key, as the plain table's primary key wants: the first stored.
        cursor.execute(
            f"INSERT INTO {LOG} ({COLUMNS}) SELECT DISTINCT ON (dedupe_key) {COLUMNS}"
            f" FROM {OLD} ORDER BY dedupe_key, ingested_at, created_at"
        )
        _keys_and_indexes(cursor, LOG, primary="dedupe_key")
        cursor.execute(f"DROP TABLE {OLD}")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0009_leagues"),
        ("players", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="scoredelta",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "dedupe_key",
                        "created_at",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                migrations.AlterField(
                    model_name="scoredelta",
                    name="dedupe_key",
                    field=models.UUIDField(),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
        migrations.CreateModel(
            name="DeltaLogHorizon",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("complete_from", models.DateTimeField()),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
    ]
