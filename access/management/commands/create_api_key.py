"""`manage.py create_api_key NAME --scope S …`: mint an API key; the key alone is the last
line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from access.models import ApiKey, Scope


class Command(BaseCommand):
    help = (
        "Create an API key with the given scopes (none unless named). Only its hash is "
        "stored: copy it now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what the key is for (at most 50 characters)")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            choices=Scope.values,
            dest="scopes",
            help="a scope to grant; repeat for more (a key without scopes reads public data only)",
        )
        parser.add_argument("--all-scopes", action="store_true", help="grant every scope there is")
        parser.add_argument(
            "--expires-at",
            metavar="TIME",
            help="when the key stops working, ISO 8601 with an offset "
            "(e.g. 2027-06-30T00:00:00Z); never, when left out",
        )

    def handle(
        self,
        *args: Any,
        name: str,
        scopes: list[str],
        all_scopes: bool,
        expires_at: str | None,
        **options: Any,
    ) -> None:
        if len(name) > 50:
            raise CommandError(f"The name is {len(name)} characters long; at most 50 fit.")
        expiry = None
        if expires_at is not None:
            try:
                expiry = parse_datetime(expires_at)
            except ValueError:
                expiry = None
            if expiry is None or expiry.tzinfo is None:
                raise CommandError(
                    f"--expires-at {expires_at!r} is not an ISO 8601 time with an offset, "
                    "e.g. 2027-06-30T00:00:00Z."
                )
        granted = list(Scope.values) if all_scopes else list(dict.fromkeys(scopes))
        api_key, key = ApiKey.objects.create_key(name=name, scopes=granted, expiry_date=expiry)
        self.stdout.write(
            f"Created API key {api_key.prefix}… for {name!r} with scopes "
            f"{', '.join(granted) or 'none (public reads only)'}"
            + (f", expiring {expiry.isoformat()}" if expiry else "")
            + ". Send it as 'Authorization: Api-Key <key>'. It is shown once:"
        )
        self.stdout.write(key)
