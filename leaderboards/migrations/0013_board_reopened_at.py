"""A finalised board can be reopened by staff (issue 21): when, so that the periodic
finalisation leaves it to them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("leaderboards", "0012_score_cut")]

    operations = [
        migrations.AddField(
            model_name="board",
            name="reopened_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
