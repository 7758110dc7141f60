"""Webhooks (webhooks/, docs/webhooks.md): deliveries, retries and where they may go."""

from __future__ import annotations

from config.env import env_bool, env_int

# Webhooks (webhooks/, docs/webhooks.md). An attempt waits this long to connect and again
# for the answer; no answer in time is a failure, retried.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Retries wait WEBHOOK_RETRY_BASE_SECONDS, then twice as long each time (the first retry
# within 30 s), at most WEBHOOK_RETRY_MAX_DELAY_SECONDS; a message not delivered within
# WEBHOOK_RETRY_FOR_SECONDS of its first attempt is marked failed.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 10, minimum=0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600, minimum=0)
WEBHOOK_RETRY_FOR_SECONDS = env_int("WEBHOOK_RETRY_FOR_SECONDS", 86_400, minimum=0)
# An endpoint without a 2xx answer for this long is disabled at its next failed attempt.
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 86_400, minimum=0)
# Webhooks go to public addresses only (webhooks/addresses.py); 1 lets them reach loopback
# and private networks too: tests, and receivers on the service's own network.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
