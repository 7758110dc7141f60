"""Hourly, daily and weekly rollups behind the watermark (leaderboards/postgres/rollups.py).

Deltas are written with explicit ingest times where the test needs to place them around
the watermark; `advance_past(t)` moves the watermark just beyond t.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from leaderboards.models import DailyRollup, HourlyRollup, RollupWatermark, WeeklyRollup
from leaderboards.postgres import rollups
from leaderboards.postgres.rollups import SAFETY_MARGIN, rollup_watermark, rollups_advance
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from leaderboards.windows import EPOCH
from tests.factories import PlayerFactory

MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
# Event times in the recent past, from a Monday (a week boundary), so the buckets are plain.
DAY0 = timezone.now().astimezone(UTC).replace(
    hour=0, minute=0, second=0, microsecond=0
) - timedelta(days=10)
DAY0 -= timedelta(days=DAY0.weekday())
MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # where ISO weeks start
INGESTED = DAY0 + timedelta(days=5)


@dataclass(frozen=True)
class Delta:
    player_id: int
    metric: str
    delta: int
    created_at: datetime
    ingested_at: datetime
    dedupe_key: uuid.UUID = field(default_factory=uuid.uuid4)


def insert_deltas(deltas: list[Delta]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO leaderboards_scoredelta"
            " (dedupe_key, player_id, metric, delta, created_at, ingested_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (d.dedupe_key, d.player_id, d.metric, d.delta, d.created_at, d.ingested_at)
                for d in deltas
            ],
        )


def advance_past(moment: datetime) -> rollups.RollupProgress:
    """Run the rollups with the watermark landing one millisecond after `moment`."""
    return rollups_advance(now=moment + SAFETY_MARGIN + MS)


def expected_rollups(
    deltas: list[Delta], grain: timedelta, origin: datetime = EPOCH
) -> dict[tuple, tuple]:
    """(metric, bucket, player_id) -> (total, best, worst, count, last, last_at, best_at,
    worst_at), for buckets `grain` long from `origin` on. best_at (worst_at) is the earliest
    event time with the best (worst) value."""
    groups: dict[tuple, list[Delta]] = defaultdict(list)
    for d in deltas:
        bucket = origin + (d.created_at - origin) // grain * grain
        groups[(d.metric, bucket, d.player_id)].append(d)
    expected = {}
    for key, group in groups.items():
        latest = max(group, key=lambda d: (d.created_at, d.ingested_at, d.dedupe_key.bytes))
        values = [d.delta for d in group]
        expected[key] = (
            sum(values),
            max(values),
            min(values),
            len(values),
            latest.delta,
            latest.created_at,
            min(d.created_at for d in group if d.delta == max(values)),
            min(d.created_at for d in group if d.delta == min(values)),
        )
    return expected


def stored_rollups(model) -> dict[tuple, tuple]:
    return {
        (r.metric, r.bucket, r.player_id): (
            r.total,
            r.best,
            r.worst,
            r.count,
            r.last,
            r.last_at,
            r.best_at,
            r.worst_at,
        )
        for r in model.objects.all()
    }


def assert_rollups_hold(deltas: list[Delta]) -> None:
    assert stored_rollups(HourlyRollup) == expected_rollups(deltas, timedelta(hours=1))
    assert stored_rollups(DailyRollup) == expected_rollups(deltas, timedelta(days=1))
    assert stored_rollups(WeeklyRollup) == expected_rollups(deltas, timedelta(weeks=1), MONDAY)


@pytest.fixture
def players(db):
    return [PlayerFactory(external_id=name).pk for name in ("ann", "bob", "cy")]


def day(n: int, hours: float = 0, ms: int = 0) -> datetime:
    return DAY0 + timedelta(days=n, hours=hours, milliseconds=ms)


def test_rollups_hold_every_hour_day_and_week_of_the_deltas(players):
    ann, bob, _ = players
    deltas = [
        Delta(ann, "score", 5, day(0, 1, 10), INGESTED),
        Delta(ann, "score", -3, day(0, 1, 20), INGESTED),
        Delta(ann, "score", 7, day(0, 2), INGESTED),
        Delta(ann, "score", 1, day(1, 0, 5), INGESTED),
        Delta(bob, "score", 9, day(0, 1, 30), INGESTED),
        Delta(bob, "time", 42, day(0, 1, 30), INGESTED),
        Delta(bob, "time", 40, day(0, 23.999), INGESTED),
        # The last millisecond of DAY0's week (a Sunday), and the first of the next.
        Delta(ann, "score", 3, day(7, 0, -1), INGESTED),
        Delta(ann, "score", 2, day(7), INGESTED),
    ]
    insert_deltas(deltas)

    progress = advance_past(INGESTED)

    assert_rollups_hold(deltas)
    assert (progress.previous, progress.watermark) == (None, INGESTED + MS)
    assert (progress.hourly_rows, progress.daily_rows, progress.weekly_rows) == (8, 6, 4)
    assert rollup_watermark() == INGESTED + MS


def test_deltas_at_or_after_the_watermark_wait_for_the_next_run(players):
    ann = players[0]
    before = Delta(ann, "score", 1, day(0, 1), INGESTED - MS)
    at = Delta(ann, "score", 10, day(0, 1), INGESTED)
    insert_deltas([before, at])

    rollups_advance(now=INGESTED + SAFETY_MARGIN)  # watermark exactly at INGESTED

    assert rollup_watermark() == INGESTED
    assert_rollups_hold([before])
    advance_past(INGESTED)
    assert_rollups_hold([before, at])


def test_a_late_event_lands_in_its_old_bucket(players):
    ann = players[0]
    first = [Delta(ann, "score", 5, day(0, 3, 500), INGESTED)]
    insert_deltas(first)
    advance_past(INGESTED)

    # Days later, an event from the same hour arrives: earlier than the stored `last`,
    # so it adds to the total but does not become the latest value.
    late = Delta(ann, "score", 2, day(0, 3, 100), INGESTED + timedelta(days=2))
    # And one later in that hour: it is the new `last`.
    later = Delta(ann, "score", 8, day(0, 3, 900), INGESTED + timedelta(days=2))
    insert_deltas([late, later])
    advance_past(INGESTED + timedelta(days=2))

    assert_rollups_hold([*first, late, later])
    hour = HourlyRollup.objects.get()
    assert (hour.total, hour.count, hour.last, hour.last_at) == (15, 3, 8, day(0, 3, 900))


def test_a_later_run_moves_when_the_best_and_worst_were_first_reached(players):
    ann = players[0]
    first = [
        Delta(ann, "score", 5, day(0, 3, 500), INGESTED),
        Delta(ann, "score", 1, day(0, 3, 600), INGESTED),
    ]
    insert_deltas(first)
    advance_past(INGESTED)
    # Late arrivals: the best value again, earlier; the worst again, later; a new best.
    again = [
        Delta(ann, "score", 5, day(0, 3, 100), INGESTED + HOUR),
        Delta(ann, "score", 1, day(0, 3, 700), INGESTED + HOUR),
    ]
    insert_deltas(again)
    advance_past(INGESTED + HOUR)
    hour = HourlyRollup.objects.get()
    assert (hour.best_at, hour.worst_at) == (day(0, 3, 100), day(0, 3, 600))
    newer = [Delta(ann, "score", 6, day(0, 3, 900), INGESTED + 2 * HOUR)]
    insert_deltas(newer)
    advance_past(INGESTED + 2 * HOUR)

    assert_rollups_hold([*first, *again, *newer])
    assert HourlyRollup.objects.get().best_at == day(0, 3, 900)


def test_the_later_arrival_wins_a_tie_on_event_time_then_the_dedupe_key(players):
    ann = players[0]
    moment = day(0, 5)
    low_key, high_key = uuid.UUID(int=1), uuid.UUID(int=2**127)
    deltas = [
        Delta(ann, "score", 1, moment, INGESTED, high_key),
        Delta(ann, "score", 2, moment, INGESTED + MS, low_key),
    ]
    insert_deltas(deltas[:1])
    advance_past(INGESTED)
    insert_deltas(deltas[1:])
    advance_past(INGESTED + MS)
    assert HourlyRollup.objects.get().last == 2  # ingested later

    same_arrival = [
        Delta(ann, "score", 3, moment + MS, INGESTED + 2 * MS, uuid.UUID(int=5)),
        Delta(ann, "score", 4, moment + MS, INGESTED + 2 * MS, uuid.UUID(int=6)),
    ]
    insert_deltas(same_arrival)
    advance_past(INGESTED + 2 * MS)
    assert HourlyRollup.objects.get().last == 4  # the higher dedupe key
    assert_rollups_hold(deltas + same_arrival)


def test_running_again_changes_nothing(players):
    ann, bob, _ = players
    deltas = [
        Delta(ann, "score", 5, day(0, 1), INGESTED),
        Delta(bob, "score", 6, day(1, 1), INGESTED),
    ]
    insert_deltas(deltas)
    advance_past(INGESTED)
    grains = (HourlyRollup, DailyRollup, WeeklyRollup)
    stored = [stored_rollups(grain) for grain in grains]

    again = advance_past(INGESTED)

    assert (again.previous, again.watermark) == (INGESTED + MS, INGESTED + MS)
    assert (again.hourly_rows, again.daily_rows, again.weekly_rows, again.chunks) == (0, 0, 0, 0)
    assert [stored_rollups(grain) for grain in grains] == stored
    assert RollupWatermark.objects.count() == 1


def test_the_watermark_never_moves_back(players):
    insert_deltas([Delta(players[0], "score", 5, day(0, 1), INGESTED)])
    advance_past(INGESTED)

    progress = rollups_advance(now=INGESTED - timedelta(days=1))

    assert progress.watermark == INGESTED + MS
    assert rollup_watermark() == INGESTED + MS


def test_the_first_run_without_deltas_just_sets_the_watermark(db):
    progress = rollups_advance(now=INGESTED + SAFETY_MARGIN)

    assert (progress.previous, progress.watermark, progress.chunks) == (None, INGESTED, 0)
    assert rollup_watermark() == INGESTED


def test_a_backlog_is_merged_in_chunks_of_bounded_size(players, monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK_DELTAS", 2)
    ann, bob, cy = players
    deltas = [
        Delta(player, "score", n, day(n % 3, n), INGESTED + n // 3 * timedelta(minutes=1))
        for n, player in enumerate([ann, bob, cy] * 4)
    ]
    # Three deltas share each ingest time (one transaction each): a chunk never splits one.
    insert_deltas(deltas)

    progress = advance_past(deltas[-1].ingested_at)

    assert progress.chunks == 4
    assert_rollups_hold(deltas)


@pytest.mark.django_db(transaction=True)
def test_a_delta_of_a_transaction_still_open_is_not_lost(monkeypatch):
    # Without a margin, only pg_stat_activity keeps the watermark behind the open writer.
    monkeypatch.setattr(rollups, "SAFETY_MARGIN", timedelta(0))
    ann = PlayerFactory(external_id="ann").pk
    now = timezone.now()
    window = Window(
        metric="score", starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1)
    )
    insert_deltas([Delta(ann, "score", 1, now - timedelta(hours=2), now - timedelta(hours=1))])

    with psycopg.connect(_dsn()) as writer:
        started = writer.execute("SELECT now()").fetchone()[0]
        writer.execute(
            "INSERT INTO leaderboards_scoredelta (dedupe_key, player_id, metric, delta,"
            " created_at) VALUES (%s, %s, 'score', 10, %s)",
            [uuid.uuid4(), ann, now - timedelta(hours=2)],
        )
        time.sleep(0.05)  # the clock moves past the writer's start

        progress = rollups_advance()

        assert progress.watermark <= started
        assert HourlyRollup.objects.get().total == 1
        writer.commit()

    assert standings_page(window, offset=0, limit=10).standings[0].score == 11
    rollups_advance()
    assert HourlyRollup.objects.get().total == 11
    assert standings_page(window, offset=0, limit=10) == standings_page(
        window, offset=0, limit=10, use_rollups=False
    )


def _dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST']} port={db['PORT']} dbname={db['NAME']} user={db['USER']}" + (
        f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""
    )


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_merge_each_delta_once(monkeypatch):
    monkeypatch.setattr(rollups, "CHUNK_DELTAS", 3)
    ids = [PlayerFactory(external_id=f"p{n}").pk for n in range(4)]
    deltas = [
        Delta(ids[n % 4], "score", n, day(n % 2, n % 24), INGESTED + n * MS) for n in range(40)
    ]
    insert_deltas(deltas)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def run() -> None:
        try:
            barrier.wait()
            advance_past(deltas[-1].ingested_at)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_rollups_hold(deltas)
    assert rollup_watermark() == deltas[-1].ingested_at + MS
