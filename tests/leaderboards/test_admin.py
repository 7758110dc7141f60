"""The admin site: pages load for staff, consumer records are read-only, and editing what
a board ranks drops its Redis copy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from access.models import ApiKey
from ingestion.models import RejectedEvent
from leaderboards.cache.store import redis_breaker_reset, reset_store
from leaderboards.models import Board, ConsumerOffset
from leaderboards.selectors import board_entries
from leaderboards.windows import WINDOW_RANGE_MESSAGE
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    board = BoardFactory(slug="weekly", name="Weekly", metric="kills", aggregation="max")
    player = PlayerFactory(external_id="p1", display_name="Anna")
    rejected = RejectedEvent.objects.create(
        topic="score-events",
        partition=2,
        offset=41,
        key=b"p1",
        raw=b'{"player_id": "p1", "delta": "\xff"}',
        reason="malformed_json",
        detail="not valid JSON",
    )
    offset = ConsumerOffset.objects.create(topic="score-events", partition=2, next_offset=42)
    ApiKey.objects.create_key(name="game-server")
    return {"board": board, "player": player, "rejected": rejected, "offset": offset}


@pytest.mark.parametrize(
    "model",
    [
        "leaderboards_board",
        "players_player",
        "ingestion_rejectedevent",
        "leaderboards_consumeroffset",
        "access_apikey",
    ],
)
def test_changelists_load_for_staff(admin_client, rows, model):
    response = admin_client.get(reverse(f"admin:{model}_changelist"))

    assert response.status_code == 200


def test_admin_needs_a_staff_login(client):
    response = client.get(reverse("admin:leaderboards_board_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_board_list_shows_status_and_searches_by_metric(admin_client, rows):
    BoardFactory(slug="other", metric="score")

    response = admin_client.get(reverse("admin:leaderboards_board_changelist"), {"q": "kills"})

    content = response.content.decode()
    assert "weekly" in content
    assert "other" not in content
    assert '<td class="field-status">Live</td>' in content


def test_board_list_filters_by_aggregation(admin_client, rows):
    BoardFactory(slug="summed", aggregation="sum")

    response = admin_client.get(
        reverse("admin:leaderboards_board_changelist"), {"aggregation__exact": "max"}
    )

    assert response.context["cl"].result_count == 1


def test_board_add_and_change_pages_load(admin_client, rows):
    add = admin_client.get(reverse("admin:leaderboards_board_add"))
    change = admin_client.get(reverse("admin:leaderboards_board_change", args=[rows["board"].pk]))

    assert add.status_code == 200
    assert "prepopulated" in add.content.decode()
    assert change.status_code == 200


def test_players_are_searchable_by_display_name(admin_client, rows):
    PlayerFactory(external_id="p2", display_name="Bert")

    response = admin_client.get(reverse("admin:players_player_changelist"), {"q": "anna"})

    assert response.context["cl"].result_count == 1


def test_rejected_event_page_shows_raw_bytes_as_text_and_cannot_be_edited(admin_client, rows):
    url = reverse("admin:ingestion_rejectedevent_change", args=[rows["rejected"].pk])

    response = admin_client.get(url)

    content = response.content.decode()
    assert response.status_code == 200
    assert "&quot;delta&quot;: &quot;\ufffd&quot;" in content
    assert 'name="_save"' not in content
    assert admin_client.post(url, {"reason": "edited"}).status_code == 403
    rows["rejected"].refresh_from_db()
    assert rows["rejected"].reason == "malformed_json"


@pytest.mark.parametrize("model", ["ingestion_rejectedevent", "leaderboards_consumeroffset"])
def test_consumer_records_cannot_be_added(admin_client, rows, model):
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_consumer_offsets_cannot_be_deleted(admin_client, rows):
    url = reverse("admin:leaderboards_consumeroffset_delete", args=[rows["offset"].pk])

    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert ConsumerOffset.objects.filter(pk=rows["offset"].pk).exists()


def test_staff_delete_rejected_events_one_by_one_or_selected(admin_client, rows):
    others = [
        RejectedEvent.objects.create(topic="t", partition=0, offset=n, raw=b"x", reason="too_long")
        for n in range(3)
    ]
    url = reverse("admin:ingestion_rejectedevent_delete", args=[rows["rejected"].pk])

    confirm = admin_client.get(url)
    deleted = admin_client.post(url, {"post": "yes"})
    selected = admin_client.post(
        reverse("admin:ingestion_rejectedevent_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [e.pk for e in others[:2]],
            "post": "yes",
        },
    )

    assert confirm.status_code == 200
    assert deleted.status_code == 302
    assert selected.status_code == 302
    assert list(RejectedEvent.objects.values_list("pk", flat=True)) == [others[2].pk]


def test_staff_without_the_delete_permission_cannot_delete_rejected_events(client, rows):
    user = User.objects.create_user("marketer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_rejectedevent"))
    client.force_login(user)
    url = reverse("admin:ingestion_rejectedevent_delete", args=[rows["rejected"].pk])

    assert client.get(reverse("admin:ingestion_rejectedevent_changelist")).status_code == 200
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert RejectedEvent.objects.filter(pk=rows["rejected"].pk).exists()


def test_rejected_events_filter_by_reason(admin_client, rows):
    RejectedEvent.objects.create(topic="t", partition=0, offset=1, raw=b"x", reason="too_long")

    response = admin_client.get(
        reverse("admin:ingestion_rejectedevent_changelist"), {"reason": "too_long"}
    )

    assert response.context["cl"].result_count == 1


# -- board edits and the Redis cache ------------------------------------------------------


def board_form(board, **changes) -> dict:
    data = {
        "slug": board.slug,
        "name": board.name,
        "metric": board.metric,
        "starts_at_0": board.starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": board.starts_at.strftime("%H:%M:%S"),
        "ends_at_0": "",
        "ends_at_1": "",
        "aggregation": board.aggregation,
        "sort_order": board.sort_order,
        "tie_break": board.tie_break,
        # The participants and bucket places inlines (read-only: no rows to post).
        "participants-TOTAL_FORMS": "0",
        "participants-INITIAL_FORMS": "0",
        "bucket_members-TOTAL_FORMS": "0",
        "bucket_members-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


@pytest.fixture
def cached_board(store):
    board = BoardFactory(slug="b", starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    ScoreDeltaFactory(
        player__external_id="p1", delta=5, created_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    board_entries(board, offset=0, limit=10)
    assert store.state(board) == "ready"
    return board


@pytest.mark.django_db(transaction=True)
def test_changing_a_board_window_drops_its_redis_cache(admin_client, store, cached_board):
    url = reverse("admin:leaderboards_board_change", args=[cached_board.pk])

    response = admin_client.post(
        url, board_form(cached_board, ends_at_0="2026-02-01", ends_at_1="00:00:00")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    cached_board.refresh_from_db()
    assert cached_board.ends_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert store.state(cached_board) is None
    assert cached_board.pk not in store.cached_board_ids()


@pytest.mark.django_db(transaction=True)
def test_renaming_a_board_keeps_its_redis_cache(admin_client, store, cached_board):
    url = reverse("admin:leaderboards_board_change", args=[cached_board.pk])

    response = admin_client.post(url, board_form(cached_board, name="Renamed"))

    assert response.status_code == 302
    assert store.state(cached_board) == "ready"


@pytest.mark.django_db(transaction=True)
def test_deleting_a_board_drops_its_redis_cache(admin_client, store, cached_board):
    url = reverse("admin:leaderboards_board_delete", args=[cached_board.pk])

    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert store.state(cached_board) is None


def test_board_edits_still_save_with_redis_down(
    admin_client, settings, django_capture_on_commit_callbacks
):
    redis_breaker_reset()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    reset_store()
    board = BoardFactory(slug="b", starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    url = reverse("admin:leaderboards_board_change", args=[board.pk])
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = admin_client.post(url, board_form(board, metric="kills"))
    finally:
        reset_store()

    assert response.status_code == 302
    # The catalog invalidation and the cache drop ran; their Redis errors were swallowed.
    assert len(callbacks) == 2
    board.refresh_from_db()
    assert board.metric == "kills"


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("starts_at", {"starts_at_0": "9999-12-31", "starts_at_1": "00:00:00"}),
        ("ends_at", {"ends_at_0": "9999-12-31", "ends_at_1": "23:00:00"}),
        ("starts_at", {"starts_at_0": "1900-01-01", "starts_at_1": "00:00:00"}),
    ],
)
def test_the_admin_refuses_a_window_beyond_the_range_naming_the_field(
    admin_client, redis_client, field, changes
):
    board = BoardFactory.build(slug="far", starts_at=datetime(2026, 1, 1, tzinfo=UTC))

    response = admin_client.post(
        reverse("admin:leaderboards_board_add"), board_form(board, **changes)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [WINDOW_RANGE_MESSAGE]}
    assert not Board.objects.filter(slug="far").exists()
