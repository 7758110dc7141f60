"""Migration 0007 (tie-breaks): the rollups, which cannot say when a past bucket's best
value was first reached, are emptied and rolled up again from the delta log."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from django.core.management import call_command
from django.db import connection

from leaderboards.models import HourlyRollup, TieBreak
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollups_advance
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window

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
    window = Window(
        metric="score",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        aggregation="max",
        sort_order="desc",
        tie_break=TieBreak.EARLIEST,
    )
    page = standings_page(window, offset=0, limit=10)
    assert [(s.rank, s.player_id) for s in page.standings] == [(1, "ann"), (2, "bob")]
    assert page == standings_page(window, offset=0, limit=10, use_rollups=False)


def test_the_delta_log_is_partitioned_by_week_with_its_rows(migrator):
    """Migration 0010 on a populated log: every row kept, each in its week's partition,
    the dedupe across partitions in force. `PARTITION_MIGRATION_ROWS` (default 30,000)
    sets the rows; the migration prints its time per million (docs/benchmarks.md)."""
    old = migrator.apply_initial_migration(("leaderboards", "0009_leagues"))
    Player = old.apps.get_model("players", "Player")
    ann = Player.objects.create(external_id="ann")
    rows = int(os.environ.get("PARTITION_MIGRATION_ROWS", "30000"))
    with connection.cursor() as cursor:
        # Spread over 40 days before T0, one player in a thousand.
        cursor.execute(
            "INSERT INTO players_player (external_id, display_name, metadata, created_at)"
            " SELECT 'p' || g, '', '{}', now() FROM generate_series(1, 1000) g"
        )
        cursor.execute(
            "INSERT INTO leaderboards_scoredelta"
            " (dedupe_key, player_id, metric, delta, created_at, ingested_at)"
            " SELECT gen_random_uuid(), p.id, 'score', 1,"
            "  %s - (g::float / %s) * interval '40 days', %s"
            " FROM generate_series(1, %s) g"
            " JOIN players_player p ON p.external_id = 'p' || (g %% 1000 + 1)",
            [T0, rows, INGESTED, rows],
        )
    key = uuid.uuid4()
    old.apps.get_model("leaderboards", "ScoreDelta").objects.create(
        dedupe_key=key, player=ann, metric="score", delta=7, created_at=T0, ingested_at=INGESTED
    )

    new = migrator.apply_tested_migration(("leaderboards", "0010_partitioned_delta_log"))

    Delta = new.apps.get_model("leaderboards", "ScoreDelta")
    assert Delta.objects.count() == rows + 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM leaderboards_scoredelta d JOIN pg_class c ON c.oid = d.tableoid"
            " WHERE c.relname <> 'leaderboards_scoredelta_w'"
            "  || to_char(date_trunc('week', d.created_at, 'UTC'), 'YYYYMMDD')"
        )
        assert cursor.fetchone()[0] == 0  # every row in its own week
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'leaderboards_scoredelta'::regclass"
        )
        assert cursor.fetchone()[0] >= 7  # 40 days of weeks, the weeks ahead, DEFAULT
    ann_pk = ann.pk
    call_command("migrate", verbosity=0)
    again = DeltaRow(key, ann_pk, "ann", "score", 7, T0 + timedelta(days=3), 0)
    assert deltas_insert_batch(rows=[again]) == []
