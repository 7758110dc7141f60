# The delta log's foreign key to the players goes: PostgreSQL checked it once per row at
# each batch's commit (a KEY SHARE lock per row, 9 µs an event), and the consumer now takes
# those locks in one statement per batch (players.services.players_hold). An erasure no
# longer reads the whole log to check the key either. Instant: no row is read.

import django.db.models.deletion
from django.db import migrations, models

LOG = "leaderboards_scoredelta"
FK = f"{LOG}_player_id_fk_players_player_id"


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0013_board_reopened_at"),
        ("players", "0006_tombstones"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {LOG} DROP CONSTRAINT IF EXISTS {FK}",
                    reverse_sql=f"ALTER TABLE {LOG} ADD CONSTRAINT {FK} FOREIGN KEY (player_id)"
                    " REFERENCES players_player (id) DEFERRABLE INITIALLY DEFERRED",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="scoredelta",
                    name="player",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deltas",
                        to="players.player",
                    ),
                ),
            ],
        )
    ]
