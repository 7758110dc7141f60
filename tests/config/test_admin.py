"""Every model admin's add and change pages, for a staff user: they load, and no value a
database default stands for (a `db_default=` field of an unsaved object) is shown as the
Python object behind it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from access.models import ApiKey
from config.admin import DbDefaultsAdmin
from ingestion.models import RejectedEvent
from leaderboards.models import ConsumerOffset, Series
from players.models import AuditAction, AuditEntry, Player
from tests.factories import BoardFactory, PlayerFactory
from webhooks.models import Delivery, Endpoint, Event, Message

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
LEAKS = ("object at 0x", "DatabaseDefault", "&lt;django.")


def label(item) -> str:
    return item[0]._meta.label


@pytest.fixture
def one_of_each():
    BoardFactory(slug="weekly", starts_at=datetime(2026, 1, 1, tzinfo=UTC))
    Series.objects.create(slug="daily", name="Daily", period="daily", timezone="UTC")
    PlayerFactory(external_id="p1", display_name="Anna")
    RejectedEvent.objects.create(
        topic="score-events", partition=0, offset=1, raw=b"{", reason="malformed_json"
    )
    ConsumerOffset.objects.create(topic="score-events", partition=0, next_offset=2)
    ApiKey.objects.create_key(name="game-server")
    Group.objects.create(name="operators")
    endpoint = Endpoint.objects.create(
        url="https://hooks.example.com/in", events=[Event.values[0]], secret="whsec_c2VjcmV0"
    )
    message = Message.objects.create(id="msg_1", event=Event.values[0], key="k1", body="{}")
    Delivery.objects.create(
        endpoint=endpoint, message=message, give_up_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    AuditEntry.objects.create(
        action=AuditAction.BAN, reason="cheating", actor="ops", actor_kind="api_key", player_id="p1"
    )


def test_every_registered_model_is_checked():
    assert {"players.Player", "leaderboards.Board", "leaderboards.Series"} <= {
        label(item) for item in REGISTERED
    }


@pytest.mark.parametrize("item", REGISTERED, ids=label)
def test_add_page_shows_no_database_default_object(admin_client, item):
    model, _ = item
    opts = model._meta
    response = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))

    if response.status_code == 403:  # read-only admins (consumer records) add nothing
        return
    assert response.status_code == 200
    page = response.content.decode()
    assert [leak for leak in LEAKS if leak in page] == []


@pytest.mark.parametrize("item", REGISTERED, ids=label)
def test_change_page_shows_no_database_default_object(admin_client, one_of_each, item):
    model, _ = item
    opts = model._meta
    obj = model._default_manager.order_by("pk").first()
    if obj is None and opts.app_label == "axes":  # django-axes' login records: none here
        pytest.skip(f"no {opts.label} to change")
    assert obj is not None, f"one_of_each makes no {opts.label}"

    response = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert [leak for leak in LEAKS if leak in page] == []


def test_declared_fieldsets_lose_db_filled_fields_on_the_add_page_only(rf, admin_user):
    class Declared(DbDefaultsAdmin):
        readonly_fields = ["created_at", "display_name_at"]
        fieldsets = [
            (None, {"fields": [("external_id", "created_at"), "display_name"]}),
            ("When", {"fields": ["created_at", "display_name_at"]}),
        ]

    model_admin = Declared(Player, admin.site)
    request = rf.get("/")
    request.user = admin_user

    assert model_admin.get_fieldsets(request, None) == [
        (None, {"fields": [["external_id"], "display_name"]}),
        ("When", {"fields": ["display_name_at"]}),  # null until named: shown as "-"
    ]
    player = PlayerFactory()
    assert model_admin.get_fieldsets(request, player) == Declared.fieldsets
