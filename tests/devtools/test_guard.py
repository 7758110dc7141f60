"""The benchmarks refuse to load data into services they did not start (devtools/guard.py):
a DATABASE_URL, REDIS_URL or broker the environment names may be production."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devtools.embedded import STARTED_FOR_RUN_ENV
from devtools.guard import refuse_services_not_started_here

PRODUCTION_URL = "postgres://app@db.internal.example:5432/leaderboards"


@pytest.mark.parametrize("command", ["bench_standings", "bench_reads", "bench_ingest"])
def test_a_benchmark_refuses_a_database_it_did_not_start(monkeypatch, command):
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.delenv(STARTED_FOR_RUN_ENV, raising=False)

    with pytest.raises(CommandError, match="--i-know-this-is-not-production") as refused:
        call_command(command)

    assert "this benchmark did not start what DATABASE_URL" in str(refused.value)


def test_services_started_for_the_run_are_loaded_without_the_flag(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:41234/leaderboards")
    monkeypatch.setenv(
        STARTED_FOR_RUN_ENV,
        json.dumps({"DATABASE_URL": "postgres://postgres@127.0.0.1:41234/leaderboards"}),
    )

    refuse_services_not_started_here(("postgres",), not_production=False)

    # A marker for another URL does not cover the one in use.
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    with pytest.raises(CommandError):
        refuse_services_not_started_here(("postgres",), not_production=False)


def test_the_flag_lets_an_operator_load_a_database_that_is_not_production(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_URL)
    monkeypatch.delenv(STARTED_FOR_RUN_ENV, raising=False)

    refuse_services_not_started_here(("postgres",), not_production=True)
