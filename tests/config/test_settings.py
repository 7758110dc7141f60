"""Settings read the environment strictly (config/env.py): a value they cannot read stops
start-up, naming the variable, instead of quietly meaning something else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, parse_ports

BASE_DIR = Path(__file__).resolve().parents[2]
NAME = "LEADERBOARDS_TEST_SETTING"


@pytest.fixture
def setenv(monkeypatch):
    """Set NAME to a value for the test (None: unset it)."""

    def set_to(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(NAME, raising=False)
        else:
            monkeypatch.setenv(NAME, value)

    return set_to


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " on "])
def test_bool_true_spellings(setenv, value):
    setenv(value)
    assert env_bool(NAME, False) is True


@pytest.mark.parametrize("value", ["0", "false", "False", "NO", "off", " off\n"])
def test_bool_false_spellings(setenv, value):
    setenv(value)
    assert env_bool(NAME, True) is False


@pytest.mark.parametrize("value", [None, "", "  "])
@pytest.mark.parametrize("default", [True, False])
def test_bool_unset_or_empty_is_the_default(setenv, value, default):
    setenv(value)
    assert env_bool(NAME, default) is default


@pytest.mark.parametrize("value", ["ture", "2", "enabled", "y", "-1"])
def test_bool_refuses_what_it_cannot_read(setenv, value):
    setenv(value)
    with pytest.raises(ImproperlyConfigured) as caught:
        env_bool(NAME, False)
    assert str(caught.value) == (
        f"{NAME}={value!r} is not a boolean: use 1/0, true/false, yes/no, on/off."
    )


@pytest.mark.parametrize(("value", "number"), [("42", 42), (" 7 ", 7), ("-3", -3), ("0", 0)])
def test_int_reads_whole_numbers(setenv, value, number):
    setenv(value)
    assert env_int(NAME, 5) == number


@pytest.mark.parametrize("value", [None, "", " "])
def test_int_unset_or_empty_is_the_default(setenv, value):
    setenv(value)
    assert env_int(NAME, 5000) == 5000


@pytest.mark.parametrize("value", ["5k", "1.5", "1e3", "0x10", "five"])
def test_int_refuses_what_it_cannot_read(setenv, value):
    setenv(value)
    with pytest.raises(ImproperlyConfigured) as caught:
        env_int(NAME, 5000)
    assert str(caught.value) == (
        f"{NAME}={value!r} is not an integer: use whole digits, e.g. 5000."
    )


def test_int_minimum(setenv):
    setenv("1")
    assert env_int(NAME, 5, minimum=1) == 1
    setenv("0")
    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}='0' is too small: use 1 or more\."):
        env_int(NAME, 5, minimum=1)


def test_int_minimum_does_not_apply_to_the_default(setenv):
    setenv(None)
    assert env_int(NAME, 0, minimum=1) == 0


def test_list(setenv):
    setenv(" a.example, b.example ,,")
    assert env_list(NAME, ["localhost"]) == ["a.example", "b.example"]
    setenv("")
    assert env_list(NAME, ["localhost"]) == ["localhost"]
    setenv(None)
    assert env_list(NAME, []) == []


def test_choice(setenv):
    setenv("JSON")
    assert env_choice(NAME, "plain", ("plain", "json")) == "json"
    setenv("")
    assert env_choice(NAME, "plain", ("plain", "json")) == "plain"
    setenv("yaml")
    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}='yaml' is not one of: plain, json\."):
        env_choice(NAME, "plain", ("plain", "json"))


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh process with the project's settings, under `env`."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "test-only-secret-key",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_typo_in_a_real_variable_stops_start_up():
    result = run_python("import django; django.setup()", DJANGO_DEBUG="ture")
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: DJANGO_DEBUG='ture' is not a boolean"
        in result.stderr
    )


def test_a_bad_number_in_a_real_variable_stops_start_up():
    result = run_python("import django; django.setup()", INGEST_BATCH_SIZE="5k")
    assert result.returncode != 0
    assert "ImproperlyConfigured: INGEST_BATCH_SIZE='5k' is not an integer" in result.stderr


def test_the_same_variables_spelled_right_are_read():
    result = run_python(
        "from django.conf import settings; print(settings.DEBUG, settings.INGEST_BATCH_SIZE)",
        DJANGO_DEBUG="TRUE",
        INGEST_BATCH_SIZE="500",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "500"]


def test_celery_reads_the_time_limits():
    from config.celery_app import app

    assert (app.conf.task_soft_time_limit, app.conf.task_time_limit) == (
        settings.CELERY_TASK_SOFT_TIME_LIMIT,
        settings.CELERY_TASK_TIME_LIMIT,
    )
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT


def test_a_soft_time_limit_at_or_above_the_hard_one_stops_start_up():
    result = run_python(
        "import django; django.setup()",
        CELERY_TASK_SOFT_TIME_LIMIT="60",
        CELERY_TASK_TIME_LIMIT="60",
    )
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: CELERY_TASK_SOFT_TIME_LIMIT=60 must be below "
        "CELERY_TASK_TIME_LIMIT=60" in result.stderr
    )


def test_a_response_cache_period_past_the_freshness_slo_stops_start_up():
    result = run_python("import django; django.setup()", LEADERBOARD_RESPONSE_CACHE_MS="1000")
    assert result.returncode != 0
    assert "LEADERBOARD_RESPONSE_CACHE_MS=1000 must be under 1000" in result.stderr


def test_a_rate_limit_that_is_not_a_rate_stops_start_up():
    result = run_python("import django; django.setup()", THROTTLE_READ_RATE="100 per minute")
    assert result.returncode != 0
    assert "THROTTLE_READ_RATE='100 per minute' is not a rate" in result.stderr


def test_rate_limits_read_rates_and_off():
    result = run_python(
        "from django.conf import settings; "
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])",
        THROTTLE_READ_RATE="50/Second",
        THROTTLE_WRITE_RATE="off",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'reads': '50/second', 'writes': None}"


@pytest.mark.parametrize(
    ("text", "ports"),
    [("9108", range(9108, 9109)), (" 9110-9119 ", range(9110, 9120)), ("0", range(0))],
)
def test_ports_read_a_port_a_range_or_none(text, ports):
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["x", "9110-", "9119-9110", "0-3", "70000", "9108,9109"])
def test_ports_refuse_what_is_not_a_port_or_a_range(text):
    with pytest.raises(ValueError, match="is not a port or a range of ports"):
        parse_ports(text)


def test_a_bad_metrics_port_range_stops_start_up():
    result = run_python("import django; django.setup()", CONSUMER_METRICS_PORT="9110-x")
    assert result.returncode != 0
    assert "CONSUMER_METRICS_PORT='9110-x': '9110-x' is not a port" in result.stderr


def test_a_redis_cluster_without_a_plain_redis_for_the_cache_and_celery_stops_start_up():
    result = run_python(
        "import django; django.setup()",
        REDIS_CLUSTER="1",
        CACHE_REDIS_URL="",
        CELERY_BROKER_URL="",
    )
    assert result.returncode != 0
    assert (
        "REDIS_CLUSTER=1 needs CACHE_REDIS_URL and CELERY_BROKER_URL set to a plain"
        in result.stderr
    )
    plain = "redis://127.0.0.1:6390/0"
    result = run_python(
        "from django.conf import settings; print(settings.CACHES['default']['LOCATION'],"
        " settings.CELERY_RESULT_BACKEND)",
        REDIS_CLUSTER="1",
        CACHE_REDIS_URL=plain,
        CELERY_BROKER_URL=plain,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [plain, plain]
