"""`manage.py revoke_api_key PREFIX`: stop a key for good (revoking cannot be undone)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the part before the dot). It cannot be undone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help="the key's prefix, as the admin lists it")

    def handle(self, *args: Any, prefix: str, **options: Any) -> None:
        revoked = ApiKey.objects.filter(prefix=prefix.partition(".")[0]).update(revoked=True)
        if not revoked:
            raise CommandError(f"No API key has the prefix {prefix!r}.")
        self.stdout.write(f"Revoked API key {prefix.partition('.')[0]}….")
