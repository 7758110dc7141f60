"""`manage.py erase_player ID --reason ...`: the API's erasure (leaderboards/erasure.py)
without a web worker's timeout, for a delta log too large to read through within one
request. Audited as done by `manage.py` and the user running it."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from leaderboards.erasure import player_erase
from leaderboards.moderation import REASON_MAX_LENGTH
from players.audit import Actor


class Command(BaseCommand):
    help = "Erase a player: everything held on them goes, a keyed hash of the id stays."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("player_id", help="the player's external id")
        parser.add_argument("--reason", default="", help="kept in the audit log")

    def handle(self, *args: Any, player_id: str, reason: str, **options: Any) -> None:
        if len(reason) > REASON_MAX_LENGTH:
            raise CommandError(f"The reason is at most {REASON_MAX_LENGTH} characters.")
        actor = Actor(name=f"manage.py ({getpass.getuser()})", kind="command")
        try:
            erasure = player_erase(player_id=player_id, actor=actor, reason=reason)
        except Http404 as exc:
            raise CommandError(str(exc)) from exc
        if erasure.redis_cleaned is False:
            raise CommandError("Erased from PostgreSQL; Redis failed: run the command again.")
        if erasure.erased_at is None:
            self.stdout.write("Erased already: Redis cleaned again.")
        else:
            self.stdout.write(
                f"Erased: {erasure.deltas} events and {erasure.rows} other rows; "
                f"kept the hash {erasure.player_hash}."
            )
