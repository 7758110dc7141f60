"""Settings, every deploy-time value from the environment, read strictly (config/env.py): a
value that cannot be read stops start-up, naming the variable. One module a subject; the
variables are documented in docs/configuration.md.

- base: Django itself, HTTPS, apps and middleware, PostgreSQL, Redis, the admin's login
  limits, static files, logs;
- ingestion: Kafka, the consumer's batches and limits, the metrics servers;
- tasks: Celery, and the timings of boards (finalisation, retention, the cache sync,
  how stale a definition may be, builds, the micro-cache), rejected events' retention;
- api: request bodies, rate limits, DRF, the OpenAPI schema, HTTP caching, CORS;
- streams: the stream server's heartbeats, limits and public URL;
- webhooks: deliveries and their retries.

Unset service URLs fall back to the embedded services `make run` starts (see
`devtools/embedded/`), so a fresh clone runs with no configuration at all.
"""

from config.settings.api import *  # noqa: F403
from config.settings.base import *  # noqa: F403
from config.settings.ingestion import *  # noqa: F403
from config.settings.streams import *  # noqa: F403
from config.settings.tasks import *  # noqa: F403
from config.settings.webhooks import *  # noqa: F403
