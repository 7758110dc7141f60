"""`manage.py devstack_summary`: the summary `make run` prints once its web answers (URLs,
admin login, API key, Kafka, first-event commands), after setting up what it names."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandParser

from devtools.devstack.welcome import SUMMARY_FILE, devstack_bootstrap, summary, web_answers

STILL_WAITING_EVERY = 60  # seconds


class Command(BaseCommand):
    help = (
        "Set up the demo boards, the admin user and an API key for make run's stack, and "
        "print where everything is and how to send a first event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait for the web to answer, print, then stay until SIGTERM or Ctrl-C (a "
            "Procfile.dev process: honcho stops everything when one exits)",
        )

    def handle(self, *args: object, wait: bool, **options: object) -> None:
        welcome = devstack_bootstrap()
        stopped = threading.Event()
        if wait:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stopped.set())
            waited = 0
            while not web_answers(welcome.web_url):
                if stopped.wait(1):
                    return
                waited += 1
                if waited % STILL_WAITING_EVERY == 0:
                    self.stderr.write(f"{welcome.web_url}/healthz does not answer yet; waiting")
        text = summary(welcome)
        SUMMARY_FILE.write_text(text + "\n")
        self.stdout.write(text)
        self.stdout.flush()
        while wait and not stopped.wait(1):
            pass
