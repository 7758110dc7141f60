"""What `make run` sets up for a newcomer and the summary it prints once the web answers.

The admin password and the API key are remembered in `.devstack/credentials.json` (this
checkout's own stack, never production's), so every `make run` shows the same working ones
and a curl command from yesterday's shell history still works. A password changed since
(`changepassword`) is not shown: it is the newcomer's own then.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from access.models import ApiKey, Scope
from devtools.devstack.env import WEB_URL_VAR
from devtools.embedded.serve import STATE_DIR
from leaderboards.management.commands.setup_demo import (
    ADMIN_USERNAME,
    demo_board_ensure,
    demo_windows,
)

CREDENTIALS_FILE = STATE_DIR / "credentials.json"
SUMMARY_FILE = STATE_DIR / "summary.txt"
API_KEY_NAME = "make run"
FIRST_PLAYER = "newcomer"


@dataclass(frozen=True)
class Welcome:
    """What the summary shows: where the stack answers and how to log in and send."""

    web_url: str
    streams_url: str  # the stream server's base URL
    admin_password: str | None  # None: changed since make run set it
    api_key: str
    kafka_bootstrap: str
    kafka_topic: str


def web_url() -> str:
    return os.environ.get(WEB_URL_VAR) or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"


def _remembered(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def admin_ensure(*, remembered: str | None) -> str | None:
    """Create the superuser `admin` if missing; its password when it is the one we know."""
    users = get_user_model()
    admin = users.objects.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(
            username=ADMIN_USERNAME, email="admin@example.com", password=password
        )
        return password
    if remembered and admin.check_password(remembered):
        return remembered
    return None


def api_key_ensure(*, remembered: str | None) -> str:
    """The remembered key while it is valid, else a fresh one with every scope."""
    if remembered and ApiKey.objects.is_valid(remembered):
        # The library types its manager by its abstract base model.
        key = cast(ApiKey, ApiKey.objects.get_from_key(remembered))
        if Scope.EVENTS_WRITE in key.scopes:
            return remembered
    ApiKey.objects.filter(name=API_KEY_NAME).delete()
    _, raw = ApiKey.objects.create_key(name=API_KEY_NAME, scopes=Scope.values)
    return raw


def devstack_bootstrap(*, credentials: Path = CREDENTIALS_FILE) -> Welcome:
    """Demo boards, the admin user and an API key (safe to repeat); what the summary shows."""
    known = _remembered(credentials)
    now = timezone.now()
    with transaction.atomic():
        for window in demo_windows(now):
            demo_board_ensure(window, now=now)
        password = admin_ensure(remembered=known.get("admin_password"))
        key = api_key_ensure(remembered=known.get("api_key"))
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(json.dumps({"admin_password": password or "", "api_key": key}))
    credentials.chmod(0o600)
    return Welcome(
        web_url=web_url(),
        streams_url=settings.STREAM_PUBLIC_URL or web_url(),
        admin_password=password,
        api_key=key,
        kafka_bootstrap=settings.KAFKA_BOOTSTRAP_SERVERS,
        kafka_topic=settings.KAFKA_TOPIC,
    )


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def http_event_command(welcome: Welcome) -> str:
    event = json.dumps({"player_id": FIRST_PLAYER, "delta": 50})
    return (
        f"curl -X POST {welcome.web_url}/api/v1/events/ \\\n"
        f"    -H 'Authorization: Api-Key {welcome.api_key}' \\\n"
        f"    -H 'Content-Type: application/json' -d {shlex.quote(event)}"
    )


def kafka_event_command(welcome: Welcome) -> str:
    """A producer one-liner: what a game server does, with the venv's confluent-kafka."""
    code = (
        "import json, confluent_kafka as ck; "
        f'p = ck.Producer({{"bootstrap.servers": "{welcome.kafka_bootstrap}"}}); '
        f'p.produce("{welcome.kafka_topic}", key="{FIRST_PLAYER}", '
        f'value=json.dumps({{"player_id": "{FIRST_PLAYER}", "delta": 25}})); '
        "p.flush(10)"
    )
    return f".venv/bin/python -c {shlex.quote(code)}"


def summary(welcome: Welcome) -> str:
    url = welcome.web_url
    password = (
        f"password {welcome.admin_password}"
        if welcome.admin_password
        else 'password not known here (set one: make manage ARGS="changepassword admin")'
    )
    rule = "=" * 78
    lines = [
        rule,
        "Promofy leaderboards is running. Ctrl-C stops it all."
        f" Service logs: {_shown(STATE_DIR)}/*.log",
        "",
        f"  Pages      {url}/",
        f"  API        {url}/api/v1/leaderboards/",
        f"  API docs   {url}/api/docs/",
        f"  Streams    {welcome.streams_url}/api/v1/leaderboards/today/stream/"
        " (Server-Sent Events: curl -N)",
        f"  Admin      {url}/admin/   user {ADMIN_USERNAME}, {password}",
        f"  API key    {welcome.api_key}",
        "             header 'Authorization: Api-Key <key>'; scopes " + ", ".join(Scope.values),
        f"  Kafka      {welcome.kafka_bootstrap}, topic {welcome.kafka_topic}"
        " (a JSON score event per message)",
        "",
        "A first event over HTTP (202: Kafka has it):",
        "  " + http_event_command(welcome),
        "and one over Kafka (from this checkout):",
        "  " + kafka_event_command(welcome),
        f"See them counted: {FIRST_PLAYER}'s score on today's board goes up by 75 (within a"
        " second):",
        f"  curl {url}/api/v1/leaderboards/today/players/{FIRST_PLAYER}/",
        "",
        'manage.py in another terminal: make manage ARGS="changepassword admin"',
        f"This summary again: make manage ARGS=devstack_summary (or {_shown(SUMMARY_FILE)})",
        rule,
    ]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
