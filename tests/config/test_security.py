"""Production settings pass Django's deployment checks; HTTPS is enforced behind a
TLS-terminating proxy; the admin login locks out password guessing; the public pages
carry their Content-Security-Policy."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from config.security import CONTENT_SECURITY_POLICY
from leaderboards.models import Board
from tests.config.test_settings import run_python

BASE_DIR = Path(__file__).resolve().parents[2]
# What docs/security.md tells an operator to set; everything else defaults.
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "leaderboards.example.com",
}


def test_production_settings_pass_check_deploy_at_warning_level():
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "THROTTLE_"))  # the suite's own relaxations
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**env, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_settings_do_not_pass_it():
    """The check above can fail: `make run`'s settings are not production's."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on


@pytest.fixture
def https_client(settings):
    settings.SECURE_SSL_REDIRECT = True
    return Client()


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_and_https_gets_hsts(https_client, redis_client):
    plain = https_client.get("/api/v1/leaderboards/")
    behind_proxy = https_client.get("/api/v1/leaderboards/", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/api/v1/leaderboards/"
    assert behind_proxy.status_code == 200
    assert behind_proxy["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_probes_and_scrapes_are_not_redirected(https_client, path):
    assert https_client.get(path).status_code == 200


# -- the admin login ------------------------------------------------------------------------


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("ops", password="a-long-passphrase-1")


def log_in(client: Client, password: str, address: str) -> int:
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "ops", "password": password},
        REMOTE_ADDR=address,
    )
    return response.status_code


def test_password_guessing_locks_the_address_out(admin_user, settings):
    client = Client()
    failures = [log_in(client, f"guess-{i}", "198.51.100.7") for i in range(5)]

    assert failures == [200] * 4 + [429]  # the form again, then the lockout
    assert log_in(client, "a-long-passphrase-1", "198.51.100.7") == 429
    # Another address is not locked out, and the right password works there.
    assert log_in(Client(), "a-long-passphrase-1", "198.51.100.8") == 302


def test_the_lockout_ends_after_the_cool_off(admin_user, settings):
    client = Client()
    for i in range(5):
        log_in(client, f"guess-{i}", "198.51.100.9")
    assert log_in(client, "a-long-passphrase-1", "198.51.100.9") == 429

    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert log_in(client, "a-long-passphrase-1", "198.51.100.9") == 302


def test_behind_trusted_proxies_the_lockout_is_per_client_not_per_proxy(admin_user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    def via_proxy(client_address: str, password: str) -> int:
        return (
            Client()
            .post(
                "/admin/login/",
                {"username": "ops", "password": password},
                REMOTE_ADDR="10.0.0.5",
                HTTP_X_FORWARDED_FOR=client_address,
            )
            .status_code
        )

    assert [via_proxy("203.0.113.1", "wrong") for _ in range(5)][-1] == 429
    assert via_proxy("203.0.113.2", "a-long-passphrase-1") == 302


# -- the pages' Content-Security-Policy -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/", "/boards/open/", "/boards/open/entries-fragment/", "/boards/open/player-fragment/"],
)
def test_public_pages_send_the_content_security_policy(client, redis_client, path):
    Board.objects.create(slug="open", name="Open", starts_at=timezone.now())

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY


@pytest.mark.django_db
def test_pages_may_connect_to_the_stream_server_on_its_own_origin(client, redis_client, settings):
    settings.STREAM_PUBLIC_URL = "https://streams.example.com/base"
    Board.objects.create(slug="open", name="Open", starts_at=timezone.now())

    policy = client.get("/boards/open/")["Content-Security-Policy"]

    assert "connect-src 'self' https://streams.example.com;" in policy
    assert policy.replace(" https://streams.example.com", "") == CONTENT_SECURITY_POLICY


def test_a_stream_url_that_is_not_http_stops_start_up():
    result = run_python("import django; django.setup()", STREAM_PUBLIC_URL="javascript:alert(1)")

    assert result.returncode != 0
    assert "STREAM_PUBLIC_URL='javascript:alert(1)' is not an http(s) base URL" in result.stderr
