"""The benchmarks' guard: they load millions of fake deltas, players and boards, so they do
so only into services started for them (devtools/embedded/services.py's
run_again_with_embedded, the data under .devstack/) unless told that the ones the
environment names are not production. The `make run` stack's URLs, which manage.py reads from
.devstack/env, do not count as named: a benchmark starts services of its own beside them.
"""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from devtools.embedded.addresses import ENV_VARS, named_url
from devtools.embedded.services import started_for_this_run

FLAG = "--i-know-this-is-not-production"


def add_not_production_flag(parser: CommandParser) -> None:
    parser.add_argument(
        FLAG,
        dest="not_production",
        action="store_true",
        help="load the benchmark's data into the services the environment names"
        " (DATABASE_URL, ...), which this command did not start",
    )


def refuse_services_not_started_here(names: tuple[str, ...], *, not_production: bool) -> None:
    """CommandError when the environment names one of `names` (services the benchmark writes
    to) that was not started for this run, unless `not_production`."""
    foreign = [
        ENV_VARS[name] for name in names if named_url(name) and not started_for_this_run(name)
    ]
    if foreign and not not_production:
        raise CommandError(
            f"this benchmark did not start what {' and '.join(foreign)} name, and would load"
            " test data there. Unset it to run against embedded services of the benchmark's"
            f" own, or pass {FLAG} if it is not production."
        )
