"""`tie_break` on boards and series; `best_at` / `worst_at` on the rollups.

The rollups cannot say when a past bucket's best value was first reached, so they are
emptied and the watermark removed: standings read the delta log (the same answers,
slower) until the next `rollups_advance` has rolled the log up again, in chunks of
CHUNK_DELTAS (timings: docs/benchmarks.md, Migrations).
"""

import django.utils.timezone
from django.db import migrations, models

ROLLUP_TABLES = ["hourlyrollup", "dailyrollup", "weeklyrollup"]


def tie_break():
    return models.CharField(
        choices=[
            ("player_id", "Competition ranks, ties by player id"),
            ("earliest", "Ordinal ranks, whoever reached the score first"),
        ],
        default="player_id",
        help_text=(
            "How equal scores rank. player_id: competition ranks (50, 40, 40 rank 1, 2, 2), "
            "ties ordered by player id. earliest: ordinal ranks (1, 2, 3), whoever reached "
            "the score first ahead: for max and min the first event with the best value, for "
            "sum the latest event counted, for last that event."
        ),
        max_length=9,
    )


class Migration(migrations.Migration):
    dependencies = [("leaderboards", "0006_consumeroffset")]

    operations = [
        migrations.AddField(model_name="board", name="tie_break", field=tie_break()),
        migrations.AddField(model_name="series", name="tie_break", field=tie_break()),
        migrations.RunSQL(
            "TRUNCATE leaderboards_rollupwatermark, "
            + ", ".join(f"leaderboards_{table}" for table in ROLLUP_TABLES),
            migrations.RunSQL.noop,
        ),
        *(
            migrations.AddField(
                model_name=table,
                name=name,
                field=models.DateTimeField(default=django.utils.timezone.now),
                preserve_default=False,
            )
            for table in ROLLUP_TABLES
            for name in ("best_at", "worst_at")
        ),
    ]
