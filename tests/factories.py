"""factory-boy factories for the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import factory
from rest_framework.test import APIClient

from access.models import ApiKey
from leaderboards.models import Board, ScoreDelta, Series
from players.models import Player


class PlayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Player
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"player-{n}")
    display_name = factory.LazyAttribute(lambda o: o.external_id.replace("-", " ").title())


class SeriesFactory(factory.django.DjangoModelFactory):
    """A daily series, without its windows (BoardFactory(series=...) makes those)."""

    class Meta:
        model = Series

    slug = factory.Sequence(lambda n: f"series-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    period = "daily"


class BoardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Board

    slug = factory.Sequence(lambda n: f"board-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    metric = "score"
    starts_at = datetime(2026, 1, 1, tzinfo=UTC)
    ends_at = None


class ScoreDeltaFactory(factory.django.DjangoModelFactory):
    """One stored event, e.g. ScoreDeltaFactory(player__external_id="p1", delta=5)."""

    class Meta:
        model = ScoreDelta

    dedupe_key = factory.LazyFunction(uuid.uuid4)
    player = factory.SubFactory(PlayerFactory)
    metric = "score"
    delta = 1
    created_at = factory.LazyFunction(lambda: datetime.now(UTC))


def api_client_with(*scopes: str, name: str = "tests", **fields) -> APIClient:
    """An API client sending `Authorization: Api-Key <key>`, the key named `name` holding
    `scopes` (and any other ApiKey `fields`)."""
    _, key = ApiKey.objects.create_key(name=name, scopes=list(scopes), **fields)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client
