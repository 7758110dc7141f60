"""Removing a player's score from one board (issue 21): a per-(board, player) cut-off,
before which their deltas no longer count there."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0011_final_standings_keep_banned"),
        ("players", "0004_player_ban"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScoreCut",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("cut_at", models.DateTimeField()),
                (
                    "board",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="score_cuts",
                        to="leaderboards.board",
                    ),
                ),
                (
                    "player",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="players.player",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("board", "player"), name="score_cut_once")
                ],
            },
        ),
    ]
