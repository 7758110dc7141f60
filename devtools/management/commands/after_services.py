"""`manage.py after_services [--migrated] COMMAND [ARGS...]`: `wait_for_services`, then the
command in the same process, for the lines of Procfile.dev.

A line used to be `wait_for_services --migrated >/dev/null && exec COMMAND`: two Python
processes one after the other, each booting Django (1.4 s of CPU from bytecode), for every
process `make run` starts, and `make run`'s test pays it too. Here the process that waited
runs the command: a management command as `manage.py COMMAND ARGS` would, `celery ARGS` as
the `celery` program would. The wait says nothing unless it gives up.
"""

from __future__ import annotations

import argparse
import io
import sys

from django.core.management import call_command, execute_from_command_line
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Wait until PostgreSQL, Redis and Kafka answer (wait_for_services), then run a "
        "management command, or celery, in this same process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--migrated",
            action="store_true",
            help="also wait until the database has no unapplied migrations",
        )
        parser.add_argument(
            "argv",
            nargs=argparse.REMAINDER,
            metavar="COMMAND [ARGS...]",
            help="a manage.py command and its arguments, or `celery` and its",
        )

    def handle(self, *args: object, migrated: bool, argv: list[str], **options: object) -> None:
        if argv[:1] == ["--"]:
            argv = argv[1:]
        if not argv:
            raise CommandError("name the command to run: after_services [--migrated] COMMAND")
        call_command("wait_for_services", migrated=migrated, stdout=io.StringIO())
        if argv[0] == "celery":
            from celery.bin.celery import main as celery_main

            sys.argv = argv
            sys.exit(celery_main())
        execute_from_command_line([sys.argv[0], *argv])
