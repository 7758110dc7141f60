"""The ingestion dashboard in the admin: events per minute, lag per partition against the
real broker, the latest rejections and the board cache; staff only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ingestion.models import RejectedEvent
from ingestion.selectors import events_per_minute
from leaderboards.cache.store import reset_store
from leaderboards.selectors import board_entries
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory
from tests.ingestion.kafka_helpers import consume_until_idle, produce, score_events

DASHBOARD = "admin:ingestion_dashboard"


@pytest.mark.django_db(transaction=True)
def test_dashboard_shows_rate_lag_rejections_and_cache(admin_client, topic, store):
    board = BoardFactory(slug="all-time")
    BoardFactory(slug="ended", ends_at=timezone.now() - timedelta(days=1))
    events = list(score_events(40, players=8, start=timezone.now() - timedelta(minutes=1)))
    bad = [(b"p1", b"{not json"), (b"p2", b'{"player_id": "p2"}')]
    produce([*((k, v) for k, v, _, _ in events), *bad], topic)
    consume_until_idle(topic)
    board_entries(board, offset=0, limit=10)  # cached now
    produce(((k, v) for k, v, _, _ in score_events(10, players=3)), topic)  # not consumed

    response = admin_client.get(reverse(DASHBOARD))

    assert response.status_code == 200
    html = response.content.decode()
    minutes = response.context["minutes"]
    assert len(minutes) == 60
    assert sum(m.accepted for m in minutes) == 40
    assert sum(m.rejected for m in minutes) == 2
    assert "<svg" in html
    assert html.count('class="accepted"') == 60

    lag = response.context["lag"]
    assert lag.broker_error is None
    assert lag.total == 10
    assert html.count('class="lag-row"') == len(lag.partitions) == 6

    rejected = list(RejectedEvent.objects.filter(topic=topic))
    assert html.count('class="rejected-row"') == 2
    for event in rejected:
        assert reverse("admin:ingestion_rejectedevent_change", args=[event.pk]) in html
    assert "malformed_json" in html

    cache = {row.board.slug: row for row in response.context["cache"].boards}
    assert cache.keys() == {"all-time"}  # the ended board is neither live nor cached
    assert (cache["all-time"].cached, cache["all-time"].state) == (True, "ready")
    assert cache["all-time"].members == 8
    assert response.context["cache"].redis_error is None


@pytest.fixture
def nowhere(settings):
    """Kafka and Redis addresses where nothing listens."""
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9"
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    reset_store()
    yield
    reset_store()


@pytest.mark.django_db
def test_dashboard_says_when_broker_and_redis_are_unreachable(admin_client, nowhere):
    BoardFactory(slug="live-one")

    response = admin_client.get(reverse(DASHBOARD))

    assert response.status_code == 200
    html = response.content.decode()
    assert "broker unreachable" in html
    assert "Redis unavailable" in html
    assert [row.board.slug for row in response.context["cache"].boards] == ["live-one"]
    assert response.context["lag"].total is None


@pytest.mark.django_db
def test_events_per_minute_counts_each_minute_of_the_last_hour():
    now = timezone.now()
    player = PlayerFactory()
    for ingested_at in [now - timedelta(minutes=5)] * 3 + [now - timedelta(minutes=70), now]:
        ScoreDeltaFactory(player=player, created_at=ingested_at, ingested_at=ingested_at)
    RejectedEvent.objects.create(topic="t", partition=0, offset=1, raw=b"x", reason="r")
    RejectedEvent.objects.filter(topic="t").update(received_at=now - timedelta(minutes=2))

    minutes = events_per_minute(minutes=60, now=now)

    assert len(minutes) == 60
    assert minutes[-1].minute == now.replace(second=0, microsecond=0)
    assert [m.accepted for m in minutes[-6:]] == [3, 0, 0, 0, 0, 1]
    assert [m.rejected for m in minutes[-6:]] == [0, 0, 0, 1, 0, 0]
    assert minutes[-6].accepted_per_second == 3 / 60
    elapsed = now - now.replace(second=0, microsecond=0)
    assert minutes[-1].seconds == max(elapsed.total_seconds(), 1.0)


@pytest.mark.django_db
def test_admin_home_links_to_the_dashboard(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert reverse(DASHBOARD) in response.content.decode()


@pytest.mark.django_db
def test_dashboard_is_for_staff_only(client, django_user_model):
    response = client.get(reverse(DASHBOARD))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]

    client.force_login(django_user_model.objects.create_user("player", password="x"))
    assert client.get(reverse(DASHBOARD)).status_code == 302
