"""Final standings keep every player's place, banned ones too (issue 21): `place` is the
place among everyone, `position` and `rank` among those shown, null for the banned."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0010_partitioned_delta_log"),
        ("players", "0004_player_ban"),
    ]

    operations = [
        migrations.AddField(
            model_name="finalstanding",
            name="place",
            field=models.PositiveIntegerField(null=True),
        ),
        # Nobody was banned before: places are the positions.
        migrations.RunSQL(
            "UPDATE leaderboards_finalstanding SET place = position",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="finalstanding",
            name="place",
            field=models.PositiveIntegerField(),
        ),
        migrations.AlterField(
            model_name="finalstanding",
            name="position",
            field=models.PositiveIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name="finalstanding",
            name="rank",
            field=models.PositiveIntegerField(null=True),
        ),
    ]
