"""The delta log's weekly partitions (leaderboards/postgres/partitions.py) and the batch insert's
dedupe across them (leaderboards/postgres/deltas.py), on the suite's PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from django.db import connection, connections, transaction

from config.celery_app import app
from leaderboards.models import DeltaLogHorizon, ScoreCut, ScoreDelta
from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.postgres.partitions import (
    DEFAULT,
    DeltasRetired,
    partition_name,
    partitions_ensure,
    partitions_list,
    partitions_maintain,
    week_start,
)
from leaderboards.postgres.rollups import rollups_advance
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from leaderboards.tasks import delta_partitions
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)
# Three weeks that ended well before a 90-day retention's cutoff.
OLD = week_start(NOW - timedelta(days=130))
WEEKS = [OLD, OLD + timedelta(weeks=1), OLD + timedelta(weeks=2)]
INGESTED = OLD + timedelta(weeks=3)  # long rolled up, once rollups run


def home_of(dedupe_key: uuid.UUID) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM leaderboards_scoredelta WHERE dedupe_key = %s",
            [dedupe_key],
        )
        return [name for (name,) in cursor.fetchall()]


def row(player, at: datetime, *, key: uuid.UUID | None = None, partition: int = 0) -> DeltaRow:
    return DeltaRow(key or uuid.uuid4(), player.pk, player.external_id, "score", 5, at, partition)


# -- exactly once across partitions -------------------------------------------------------


def test_duplicate_event_at_another_time_counts_once():
    """A copy of an event stamped weeks later (a re-sent event without created_at takes
    the broker's time) lands in another partition, where the primary key cannot see it."""
    partitions_ensure(now=OLD)
    ann = PlayerFactory(external_id="ann")
    key = uuid.uuid4()
    assert len(deltas_insert_batch(rows=[row(ann, NOW, key=key)])) == 1

    again = [row(ann, OLD + timedelta(hours=1), key=key), row(ann, NOW, key=key)]
    assert deltas_insert_batch(rows=again) == []
    # Two copies in one batch, at two times: one is stored, the earlier.
    twins = uuid.uuid4()
    stored = deltas_insert_batch(
        rows=[row(ann, NOW, key=twins), row(ann, OLD + timedelta(hours=2), key=twins)]
    )
    assert [r.created_at for r in stored] == [OLD + timedelta(hours=2)]
    assert ScoreDelta.objects.filter(dedupe_key=key).count() == 1
    assert home_of(twins) == [partition_name(OLD)]


def test_copies_in_one_batch_count_once_and_the_others_keep_their_order():
    """The batch's own duplicates are dropped before the insert: the first copy of a key
    stays, in its place, and so does every other row."""
    ann, bob = PlayerFactory(external_id="ann"), PlayerFactory(external_id="bob")
    key = uuid.uuid4()
    first = row(ann, NOW, key=key)
    again = msgspec.structs.replace(first, delta=7)  # a copy that claims another delta
    between, last = row(bob, NOW), row(bob, NOW - timedelta(minutes=1))
    assert deltas_insert_batch(rows=[first, between, again, last]) == [first, between, last]
    assert deltas_insert_batch(rows=[again, last]) == []


@pytest.mark.django_db(transaction=True)
def test_a_zombie_batch_and_its_successor_store_a_duplicate_once():
    """Two batches of one Kafka partition at once (a consumer that lost the partition
    while storing, and the one that took it over): the second waits for the first, then
    sees its copy at the other time."""
    ann = PlayerFactory(external_id="ann")
    key = uuid.uuid4()
    first_holds = threading.Event()
    results = {}

    def zombie():
        with transaction.atomic():
            results["zombie"] = deltas_insert_batch(rows=[row(ann, NOW, key=key, partition=3)])
            first_holds.set()
            threading.Event().wait(1.0)  # still storing while the successor starts
        connections.close_all()

    thread = threading.Thread(target=zombie)
    thread.start()
    first_holds.wait(10)
    later = NOW - timedelta(days=1)
    results["successor"] = deltas_insert_batch(rows=[row(ann, later, key=key, partition=3)])
    thread.join()

    assert len(results["zombie"]) == 1
    assert results["successor"] == []
    assert ScoreDelta.objects.filter(dedupe_key=key).count() == 1


# -- partitions ahead and the DEFAULT partition --------------------------------------------


def test_weeks_ahead_exist_and_an_event_without_a_week_is_kept_in_default():
    names = {p.name for p in partitions_list()}
    assert {partition_name(week_start(NOW) + timedelta(weeks=k)) for k in range(3)} <= names

    ancient = ScoreDeltaFactory(created_at=datetime(2005, 6, 1, tzinfo=UTC))
    ahead = NOW + timedelta(weeks=5)
    future = ScoreDeltaFactory(created_at=ahead)
    assert home_of(ancient.dedupe_key) == [DEFAULT]
    assert home_of(future.dedupe_key) == [DEFAULT]

    # When its week is made, the row moves out of DEFAULT into it.
    made = partitions_ensure(now=ahead - timedelta(weeks=1))
    assert partition_name(week_start(ahead)) in made
    assert home_of(future.dedupe_key) == [partition_name(week_start(ahead))]
    assert ScoreDelta.objects.count() == 2
    assert partitions_ensure(now=ahead - timedelta(weeks=1)) == []  # twice changes nothing


# -- retention --------------------------------------------------------------------------


def old_weeks_with_deltas():
    partitions_ensure(now=OLD)  # OLD and the two weeks after it
    ann = PlayerFactory(external_id="ann")
    for week in WEEKS:
        for hour in (10, 11):
            ScoreDeltaFactory(
                player=ann, delta=hour, created_at=week + timedelta(days=1, hours=hour, minutes=5),
                ingested_at=INGESTED,
            )  # fmt: skip
    # The test's one transaction would still owe the rows' deferred foreign-key checks,
    # and a table with pending checks cannot be dropped; the task's own transaction has none.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return ann


def test_nothing_past_the_retention_goes_before_the_rollups_hold_it():
    old_weeks_with_deltas()

    report = partitions_maintain(now=NOW, retention_days=90)

    assert report.dropped == []
    assert {k.name: k.reason for k in report.kept} == {
        partition_name(week): "rollups" for week in WEEKS
    }
    assert ScoreDelta.objects.count() == 6


def test_rolled_up_weeks_go_unless_an_open_board_needs_their_deltas():
    old_weeks_with_deltas()
    rollups_advance()
    # Open, starts mid-hour in the first week: that partial hour is read from the log.
    BoardFactory(slug="since-old", starts_at=WEEKS[0] + timedelta(days=1, hours=10, minutes=30))
    # An open tournament over the second week reads all of its window from the log.
    BoardFactory(
        slug="cup", join_required=True, starts_at=WEEKS[1], ends_at=WEEKS[1] + timedelta(days=3)
    )
    # A finalised board over the third week holds nothing back.
    BoardFactory(
        slug="done",
        starts_at=WEEKS[2] + timedelta(minutes=30),
        ends_at=WEEKS[2] + timedelta(days=2),
        finalized_at=NOW,
    )

    report = partitions_maintain(now=NOW, retention_days=90)

    assert [d.name for d in report.dropped] == [partition_name(WEEKS[2])]
    assert {k.name: k.reason for k in report.kept} == {
        partition_name(WEEKS[0]): "board since-old",
        partition_name(WEEKS[1]): "board cup",
    }
    assert ScoreDelta.objects.count() == 4
    assert DeltaLogHorizon.objects.get().complete_from == WEEKS[2] + timedelta(weeks=1)
    assert partition_name(WEEKS[2]) not in {p.name for p in partitions_list()}


def test_a_week_holding_a_removal_on_an_open_board_is_kept_for_the_hour_after_it():
    ann = old_weeks_with_deltas()
    rollups_advance()
    # An all-time board (only whole buckets in the old weeks), whose score of ann was
    # removed in the second week: the rest of that hour is read from the log.
    board = BoardFactory(slug="all-time", starts_at=WEEKS[0] - timedelta(weeks=1))
    ScoreCut.objects.create(
        board=board, player=ann, cut_at=WEEKS[1] + timedelta(hours=5, minutes=7)
    )
    # A finalised board's removal holds nothing back.
    done = BoardFactory(slug="done", starts_at=WEEKS[0], finalized_at=NOW)
    ScoreCut.objects.create(board=done, player=ann, cut_at=WEEKS[2] + timedelta(hours=1))

    report = partitions_maintain(now=NOW, retention_days=90)

    assert [d.name for d in report.dropped] == [partition_name(w) for w in (WEEKS[0], WEEKS[2])]
    assert {k.name: k.reason for k in report.kept} == {partition_name(WEEKS[1]): "board all-time"}


def test_late_rows_in_default_before_the_horizon_stay_while_an_open_board_reads_them():
    old_weeks_with_deltas()
    rollups_advance()
    assert len(partitions_maintain(now=NOW, retention_days=90).dropped) == 3
    # A late event for a dropped week lands in DEFAULT, and is rolled up.
    late = ScoreDeltaFactory(created_at=WEEKS[1] + timedelta(hours=3), ingested_at=INGESTED)
    assert home_of(late.dedupe_key) == [DEFAULT]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    rollups_advance()
    cup = BoardFactory(
        slug="cup", join_required=True, starts_at=WEEKS[1], ends_at=WEEKS[1] + timedelta(days=3)
    )

    assert partitions_maintain(now=NOW, retention_days=90).default_rows_deleted == 0
    assert home_of(late.dedupe_key) == [DEFAULT]

    cup.finalized_at = NOW
    cup.save()
    assert partitions_maintain(now=NOW, retention_days=90).default_rows_deleted == 1
    assert home_of(late.dedupe_key) == []


def test_retention_zero_keeps_everything():
    old_weeks_with_deltas()
    rollups_advance()

    report = partitions_maintain(now=NOW, retention_days=0)

    assert report.dropped == []
    assert report.kept == []
    assert ScoreDelta.objects.count() == 6


# -- reads of dropped time ------------------------------------------------------------------


def test_ranges_in_dropped_weeks_come_from_the_rollups_on_the_hour_or_are_refused(client):
    old_weeks_with_deltas()
    bob = ScoreDeltaFactory(
        player__external_id="bob", created_at=WEEKS[1] + timedelta(hours=3), ingested_at=INGESTED
    )
    rollups_advance()
    partitions_maintain(now=NOW, retention_days=90)
    assert ScoreDelta.objects.count() == 0
    day = WEEKS[1] + timedelta(days=1)

    # Whole hours: the rollups hold them, exactly.
    page = standings_page(
        Window(metric="score", starts_at=WEEKS[1], ends_at=day + timedelta(hours=11)),
        offset=0,
        limit=5,
    )
    assert [(s.player_id, s.score) for s in page.standings] == [("ann", 10), ("bob", bob.delta)]
    whole = client.get(
        "/api/v1/standings/",
        {"from": WEEKS[0].isoformat(), "to": (WEEKS[2] + timedelta(weeks=1)).isoformat()},
    )
    assert whole.status_code == 200
    assert whole.json()["results"][0]["score"] == 3 * (10 + 11)

    # A partial hour there would need single events: refused, never answered short.
    with pytest.raises(DeltasRetired):
        standings_page(
            Window(metric="score", starts_at=day + timedelta(minutes=30), ends_at=NOW),
            offset=0,
            limit=5,
        )
    response = client.get("/api/v1/standings/", {"from": (day + timedelta(minutes=30)).isoformat()})
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert "past its retention (DELTA_RETENTION_DAYS=90)" in message
    assert "give times on the hour" in message


def test_the_task_runs_hourly_and_reports_what_it_did(settings):
    schedule = app.conf.beat_schedule["delta-partitions"]
    assert schedule["task"] == delta_partitions.name
    old_weeks_with_deltas()
    rollups_advance()
    settings.DELTA_RETENTION_DAYS = 90

    report = delta_partitions()

    assert report["dropped"] == [partition_name(week) for week in WEEKS]
    assert report["kept"] == {}
