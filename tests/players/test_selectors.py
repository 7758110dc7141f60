"""players/selectors.py: `player_display_names` names each known player, by their display
name or, without one, by their external id."""

from __future__ import annotations

import pytest

from players.models import Player
from players.selectors import player_display_names
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def test_a_player_with_a_display_name_is_shown_by_it():
    PlayerFactory(external_id="p1", display_name="Ada Lovelace")

    assert player_display_names(external_ids=["p1"]) == {"p1": "Ada Lovelace"}


def test_a_player_without_a_display_name_is_shown_by_the_external_id():
    PlayerFactory(external_id="p1", display_name="")
    Player.objects.create(external_id="p2")  # the database default, blank

    assert player_display_names(external_ids=["p1", "p2"]) == {"p1": "p1", "p2": "p2"}


def test_unknown_ids_are_left_out():
    PlayerFactory(external_id="p1", display_name="Ada")

    assert player_display_names(external_ids=["p1", "ghost", "P1"]) == {"p1": "Ada"}


def test_no_ids_give_an_empty_mapping():
    PlayerFactory(external_id="p1")

    assert player_display_names(external_ids=[]) == {}


def test_an_id_asked_twice_is_answered_once():
    PlayerFactory(external_id="p1", display_name="Ada")

    assert player_display_names(external_ids=["p1", "p1"]) == {"p1": "Ada"}
