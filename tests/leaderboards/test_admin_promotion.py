"""The admin as a marketer runs a promotion from it: forms in the order one thinks of a
board, windows typed and shown in a named time zone, weekdays and zones picked by name,
"Finalise now" asking first while a window is open, and a board page that links to where
the board can be seen and finds a player on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from leaderboards.models import Board, FinalStanding, Series
from leaderboards.windows import WINDOW_RANGE_MESSAGE
from tests.factories import BoardFactory, PlayerFactory, ScoreDeltaFactory, SeriesFactory
from tests.leaderboards.test_admin import board_form

pytestmark = pytest.mark.django_db

BOARDS = "/admin/leaderboards/board/"


def change_url(board: Board) -> str:
    return reverse("admin:leaderboards_board_change", args=[board.pk])


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


def positions(html: str, *needles: str) -> list[int]:
    return [html.index(needle) for needle in needles]


# -- forms ----------------------------------------------------------------------------


def test_the_board_form_puts_name_slug_metric_and_window_first(admin_client):
    html = admin_client.get(reverse("admin:leaderboards_board_add")).content.decode()

    order = positions(
        html,
        'name="name"',
        'name="slug"',
        'name="metric"',
        'name="window_timezone"',
        'name="starts_at_0"',
        'name="ends_at_0"',
        'name="aggregation"',
        'name="join_required"',
    )
    assert order == sorted(order)
    assert "Starts at (UTC)" in html
    assert '<datalist id="window_timezone-zones">' in html
    assert '<option value="Europe/Berlin">' in html


def test_the_series_form_names_weekdays_and_suggests_time_zones(admin_client):
    html = admin_client.get(reverse("admin:leaderboards_series_add")).content.decode()

    order = positions(
        html, 'name="name"', 'name="slug"', 'name="metric"', 'name="period"', 'name="timezone"'
    )
    assert order == sorted(order)
    assert '<option value="2">Wednesday</option>' in html
    assert 'list="timezone-zones"' in html
    assert '<option value="America/Argentina/Buenos_Aires">' in html
    assert "on the wall clock of the series' time zone" in html


def series_form(**changes) -> dict:
    data = {
        "slug": "weekly-cup",
        "name": "Weekly cup",
        "metric": "score",
        "period": "weekly",
        "reset_time": "18:00",
        "reset_weekday": "2",
        "timezone": "America/New_York",
        "aggregation": "sum",
        "sort_order": "desc",
        "tie_break": "player_id",
    }
    return {**data, **changes}


@pytest.mark.django_db(transaction=True)
def test_a_weekly_series_is_saved_with_its_weekday_by_name(admin_client, store):
    response = admin_client.post(reverse("admin:leaderboards_series_add"), series_form())

    assert response.status_code == 302, form_errors(response)
    series = Series.objects.get(slug="weekly-cup")
    assert (series.reset_weekday, series.timezone) == (2, "America/New_York")
    board = series.boards.order_by("starts_at").first()
    local_start = board.starts_at.astimezone(ZoneInfo("America/New_York"))
    assert (local_start.strftime("%A"), local_start.hour) == ("Wednesday", 18)
    assert (
        "Wed 18:00 America/New_York"
        in admin_client.get(reverse("admin:leaderboards_series_changelist")).content.decode()
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"timezone": "europe/berlin"}, "timezone", "'europe/berlin' is not an IANA time zone"),
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone"),
        ({"reset_weekday": "7"}, "reset_weekday", "Select a valid choice. 7 is not one of"),
        ({"reset_weekday": ""}, "reset_weekday", "A weekly series needs the weekday"),
    ],
)
def test_bad_series_input_is_refused_naming_the_field(admin_client, changes, field, message):
    response = admin_client.post(reverse("admin:leaderboards_series_add"), series_form(**changes))

    assert response.status_code == 200
    assert message in " ".join(form_errors(response)[field])
    assert not Series.objects.exists()


def test_a_window_is_typed_in_the_zone_picked_on_the_form(admin_client, redis_client):
    board = BoardFactory.build(slug="berlin-summer")
    data = board_form(
        board,
        window_timezone="Europe/Berlin",
        starts_at_0="2026-07-01",
        starts_at_1="00:00:00",
        ends_at_0="2026-12-01",
        ends_at_1="00:00:00",
    )

    response = admin_client.post(reverse("admin:leaderboards_board_add"), data)

    assert response.status_code == 302, form_errors(response)
    saved = Board.objects.get(slug="berlin-summer")
    assert saved.starts_at == datetime(2026, 6, 30, 22, tzinfo=UTC)  # CEST, +2
    assert saved.ends_at == datetime(2026, 11, 30, 23, tzinfo=UTC)  # CET, +1


def test_a_series_board_is_shown_and_entered_in_its_series_zone(admin_client, redis_client):
    tokyo = SeriesFactory(timezone="Asia/Tokyo")
    board = BoardFactory(
        series=tokyo,
        starts_at=datetime(2026, 3, 1, 15, tzinfo=UTC),
        ends_at=datetime(2026, 3, 2, 15, tzinfo=UTC),
    )

    html = admin_client.get(change_url(board)).content.decode()

    assert "Starts at (Asia/Tokyo)" in html
    assert 'name="starts_at_0" value="2026-03-02"' in html
    assert 'name="starts_at_1" value="00:00:00"' in html
    assert 'name="window_timezone" value="Asia/Tokyo"' in html
    assert "2026-03-01 15:00:00 to 2026-03-02 15:00:00 UTC" in html


@pytest.mark.django_db(transaction=True)
def test_the_same_wall_time_in_another_zone_moves_the_window(admin_client, store):
    board = BoardFactory(slug="b", starts_at=datetime(2026, 1, 1, tzinfo=UTC))

    response = admin_client.post(change_url(board), board_form(board, window_timezone="Asia/Tokyo"))

    assert response.status_code == 302, form_errors(response)
    board.refresh_from_db()
    assert board.starts_at == datetime(2025, 12, 31, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"window_timezone": "Nowhere/Land"}, "window_timezone", "is not an IANA time zone"),
        (
            {
                "window_timezone": "Europe/Berlin",
                "starts_at_0": "2026-03-29",
                "starts_at_1": "02:30",
            },
            "starts_at",
            "2026-03-29 02:30 does not exist in Europe/Berlin: the clocks skip it.",
        ),
        (
            {"ends_at_0": "2025-12-31", "ends_at_1": "00:00"},
            "ends_at",
            "Must be after starts_at",
        ),
        (
            {
                "window_timezone": "America/Los_Angeles",
                "ends_at_0": "9999-12-31",
                "ends_at_1": "23:00",
            },
            "ends_at",
            WINDOW_RANGE_MESSAGE,
        ),
        (
            {"window_timezone": "Asia/Tokyo", "starts_at_0": "0001-01-01", "starts_at_1": "00:00"},
            "starts_at",
            WINDOW_RANGE_MESSAGE,
        ),
        ({"starts_at_0": "2026-02-30"}, "starts_at", "Enter a valid date"),
    ],
)
def test_bad_window_input_is_refused_naming_the_field(
    admin_client, redis_client, changes, field, message
):
    board = BoardFactory.build(slug="bad", starts_at=datetime(2026, 1, 1, tzinfo=UTC))

    response = admin_client.post(
        reverse("admin:leaderboards_board_add"), board_form(board, **changes)
    )

    assert response.status_code == 200
    assert message in " ".join(form_errors(response)[field])
    assert not Board.objects.filter(slug="bad").exists()


# -- finalise now -----------------------------------------------------------------------


def score(board: Board, player: str, delta: int) -> None:
    ScoreDeltaFactory(player__external_id=player, delta=delta, created_at=board.starts_at)


@pytest.mark.django_db(transaction=True)
def test_finalising_an_open_board_from_the_list_asks_first(admin_client, store):
    now = timezone.now()
    board = BoardFactory(slug="open-cup", starts_at=now - timedelta(days=1))
    score(board, "ann", 5)
    action = {"action": "finalize_now", "_selected_action": [board.pk]}

    asked = admin_client.post(BOARDS, action)

    assert asked.status_code == 200
    html = asked.content.decode()
    assert "is still open" in html
    assert "events stamped after now will be stored but will not count" in html
    assert 'name="confirm" value="yes"' in html
    board.refresh_from_db()
    assert board.finalized_at is None

    done = admin_client.post(BOARDS, {**action, "confirm": "yes"})

    assert done.status_code == 302
    board.refresh_from_db()
    assert board.finalized_at is not None
    assert FinalStanding.objects.filter(board=board).count() == 1


@pytest.mark.django_db(transaction=True)
def test_finalise_now_on_the_change_page_confirms_then_finalises(admin_client, store):
    board = BoardFactory(slug="open-cup", starts_at=timezone.now() - timedelta(days=1))
    url = reverse("admin:leaderboards_board_finalize", args=[board.pk])
    assert url in admin_client.get(change_url(board)).content.decode()

    asked = admin_client.get(url)
    assert asked.status_code == 200
    assert "The window of 1 board is still open" in asked.content.decode()
    board.refresh_from_db()
    assert board.finalized_at is None

    done = admin_client.post(url, {"confirm": "yes"})

    assert done.status_code == 302
    assert done["Location"] == change_url(board)
    board.refresh_from_db()
    assert board.finalized_at is not None
    assert url not in admin_client.get(change_url(board)).content.decode()


def test_finalise_now_needs_a_staff_login(client):
    board = BoardFactory()
    url = reverse("admin:leaderboards_board_finalize", args=[board.pk])

    response = client.post(url, {"confirm": "yes"})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    board.refresh_from_db()
    assert board.finalized_at is None


# -- the board's change page: links, find a player ------------------------------------------


def test_the_change_page_links_to_the_public_page_entries_and_csv(admin_client, redis_client):
    board = BoardFactory(slug="spring")

    html = admin_client.get(change_url(board)).content.decode()

    assert 'href="/boards/spring/"' in html
    assert 'href="/api/v1/leaderboards/spring/entries/?limit=1000"' in html
    assert 'href="/api/v1/leaderboards/spring/entries.csv"' in html
    assert 'name="find_player"' in html


@pytest.mark.django_db(transaction=True)
def test_staff_find_a_player_rank_and_score_on_the_board(admin_client, store):
    board = BoardFactory(slug="spring", starts_at=timezone.now() - timedelta(days=1))
    PlayerFactory(external_id="p1", display_name="<img src=x onerror=alert(1)>")
    score(board, "p1", 40)
    score(board, "p2", 50)

    found = admin_client.get(change_url(board), {"find_player": "p1"}).content.decode()
    missing = admin_client.get(change_url(board), {"find_player": "nobody"}).content.decode()
    too_long = admin_client.get(change_url(board), {"find_player": "x" * 65}).content.decode()

    assert "is ranked <strong>#2</strong> with a score of <strong>40</strong>" in found
    assert "&lt;img src=x onerror=alert(1)&gt;" in found
    assert "<img src=x" not in found
    assert reverse("admin:leaderboards_board_ban", args=[board.pk]) + "?player=p1" in found
    assert "Player <strong>nobody</strong> has no score on this board." in missing
    assert "A player id has 1 to 64 characters." in too_long
