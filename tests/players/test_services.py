"""players/services.py: `players_ensure` creates the players it does not know, in one
statement, and answers the primary key of every external id it is given."""

from __future__ import annotations

import sys
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from players.models import Player
from players.profiles import display_name_problem
from players.services import players_ensure, players_rename
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def test_missing_players_are_created_and_their_keys_returned():
    pks = players_ensure(external_ids=["p1", "p2"])

    assert pks.keys() == {"p1", "p2"}
    assert dict(Player.objects.values_list("external_id", "pk")) == pks


def test_known_players_keep_their_keys_and_are_not_created_again():
    known = PlayerFactory(external_id="p1", display_name="Ada")

    pks = players_ensure(external_ids=["p1"])

    assert pks == {"p1": known.pk}
    assert Player.objects.count() == 1
    known.refresh_from_db()
    assert known.display_name == "Ada"  # the existing row is left as it was


def test_new_and_known_players_in_one_call_all_get_their_keys():
    known = PlayerFactory(external_id="known")

    pks = players_ensure(external_ids=["new-1", "known", "new-2"])

    assert pks.keys() == {"new-1", "known", "new-2"}
    assert pks["known"] == known.pk
    assert Player.objects.count() == 3
    assert dict(Player.objects.values_list("external_id", "pk")) == pks


def test_an_id_given_several_times_makes_one_player():
    pks = players_ensure(external_ids=["p1", "p1", "p2", "p1"])

    assert pks.keys() == {"p1", "p2"}
    assert Player.objects.filter(external_id="p1").count() == 1
    assert Player.objects.count() == 2


def test_no_ids_return_an_empty_mapping_and_create_nothing():
    assert players_ensure(external_ids=[]) == {}
    assert players_ensure(external_ids=iter(())) == {}
    assert not Player.objects.exists()


def test_ids_differing_only_in_case_are_different_players():
    PlayerFactory(external_id="a")

    pks = players_ensure(external_ids=["a", "A", "é", "e\u0301"])

    assert len(set(pks.values())) == 4
    assert sorted(Player.objects.values_list("external_id", flat=True)) == sorted(
        ["a", "A", "é", "e\u0301"]
    )


def test_a_generator_of_ids_is_read_once_and_fully():
    pks = players_ensure(external_ids=(f"p{i}" for i in range(3)))

    assert pks.keys() == {"p0", "p1", "p2"}


@pytest.mark.django_db(transaction=True)
def test_a_player_another_transaction_creates_meanwhile_is_returned_too():
    """Two consumers meeting the same new player: the second's insert waits on the first's
    uncommitted row, skips it once that commits, and must still answer its key."""
    import threading

    import psycopg
    from django.db import connection

    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        autocommit=False,
    )
    other.execute("INSERT INTO players_player (external_id) VALUES ('x')")
    answer: dict = {}

    def ensure_in_a_thread() -> None:
        try:
            answer.update(players_ensure(external_ids=["x", "y"]))
        finally:
            connection.close()  # the thread's own connection

    ensure = threading.Thread(target=ensure_in_a_thread, daemon=True)
    ensure.start()
    ensure.join(1.0)  # blocked on the other transaction's row for 'x'
    assert ensure.is_alive()
    other.commit()
    other.close()
    ensure.join(10)

    assert answer.keys() == {"x", "y"}
    assert answer == dict(Player.objects.values_list("external_id", "pk"))


def test_a_name_edited_in_the_admin_follows_the_profile_rules_and_is_stamped(admin_client):
    player = Player.objects.create(external_id="p1")
    url = f"/admin/players/player/{player.pk}/change/"

    refused = admin_client.post(
        url, {"external_id": "p1", "display_name": "a\nb", "metadata": "{}"}
    )
    saved = admin_client.post(url, {"external_id": "p1", "display_name": " Ada ", "metadata": "{}"})

    assert refused.status_code == 200
    assert "control characters" in refused.content.decode()
    assert saved.status_code == 302
    player.refresh_from_db()
    assert player.display_name == "Ada"
    assert player.display_name_at is not None


def test_renames_keep_the_latest_name_and_report_only_changes():
    at = datetime(2026, 12, 1, tzinfo=UTC)
    players_ensure(external_ids=["p1", "p2"])

    assert players_rename(names={"p1": ("Ada", at), "p2": ("Bo", at)}) == {"p1": "Ada", "p2": "Bo"}
    assert players_rename(names={"p1": ("Old", at - timedelta(seconds=1))}) == {}
    assert players_rename(names={"p1": ("Ada", at)}) == {}  # a replay
    assert players_rename(names={"p1": ("Ada L.", at + timedelta(seconds=1))}) == {"p1": "Ada L."}
    assert dict(Player.objects.values_list("external_id", "display_name")) == {
        "p1": "Ada L.",
        "p2": "Bo",
    }


def test_a_printable_name_never_holds_a_refused_character():
    """display_name_problem skips its per-character check for a name str.isprintable()
    accepts: that holds only if no printable character is of a refused category."""
    refused = {"Cc", "Cs", "Cf"}
    printable = (chr(c) for c in range(sys.maxunicode + 1) if chr(c).isprintable())
    assert not [c for c in printable if unicodedata.category(c) in refused]
    assert display_name_problem("Ada\u200dLovelace")  # zero-width joiner: Cf, not printable
    assert display_name_problem("Ada\u00a0Lovelace") is None  # no-break space: not printable
