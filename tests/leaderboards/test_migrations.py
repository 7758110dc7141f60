"""Migration 0007 (tie-breaks): the rollups, which cannot say when a past bucket's best
value was first reached, are emptied and rolled up again from the delta log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from django.core.management import call_command

from leaderboards.models import HourlyRollup, TieBreak
from leaderboards.ranking import Window
from leaderboards.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.standings import standings_page

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
INGESTED = T0 + timedelta(days=1)


def test_rollups_are_emptied_and_rolled_up_again_with_the_times_they_were_reached(migrator):
    old = migrator.apply_initial_migration(("leaderboards", "0006_consumeroffset"))
    Player = old.apps.get_model("players", "Player")
    Delta = old.apps.get_model("leaderboards", "ScoreDelta")
    Hourly = old.apps.get_model("leaderboards", "HourlyRollup")
    Watermark = old.apps.get_model("leaderboards", "RollupWatermark")
    ann, bob = (Player.objects.create(external_id=name) for name in ("ann", "bob"))
    for player, delta, minute in [(ann, 7, 30), (ann, 7, 10), (bob, 7, 20)]:
        Delta.objects.create(
            dedupe_key=uuid.uuid4(),
            player=player,
            metric="score",
            delta=delta,
            created_at=T0 + timedelta(minutes=minute),
            ingested_at=INGESTED,
        )
    Hourly.objects.create(
        metric="score", bucket=T0, player=ann, total=14, best=7, worst=7, count=2, last=7,
        last_at=T0 + timedelta(minutes=30), last_ingested_at=INGESTED, last_key=uuid.uuid4(),
    )  # fmt: skip
    Watermark.objects.create(ingested_before=INGESTED + timedelta(seconds=1))

    new = migrator.apply_tested_migration(("leaderboards", "0007_tie_break"))

    assert not new.apps.get_model("leaderboards", "HourlyRollup").objects.exists()
    assert not new.apps.get_model("leaderboards", "RollupWatermark").objects.exists()
    assert new.apps.get_model("leaderboards", "Board")._meta.get_field("tie_break").default == (
        "player_id"
    )
    call_command("migrate", verbosity=0)
    rollups_advance(now=INGESTED + SAFETY_MARGIN + timedelta(seconds=1))
    rolled = HourlyRollup.objects.get(player__external_id="ann")
    assert (rolled.best, rolled.best_at) == (7, T0 + timedelta(minutes=10))
    window = Window("score", T0, T0 + timedelta(hours=1), "max", "desc", TieBreak.EARLIEST)
    page = standings_page(window, offset=0, limit=10)
    assert [(s.rank, s.player_id) for s in page.standings] == [(1, "ann"), (2, "bob")]
    assert page == standings_page(window, offset=0, limit=10, use_rollups=False)
