"""The OpenAPI schema's settings (drf-spectacular's SPECTACULAR_SETTINGS), which
config/settings/api.py sets from here: data only, so the settings import nothing of DRF's.
The schema (/api/schema/) and its Swagger UI (/api/docs/) are served from our own static
files: no CDN at runtime."""

from __future__ import annotations


def spectacular_settings(*, static_url: str) -> dict:
    swagger_ui = f"/{static_url.strip('/')}/vendor/swagger-ui-dist"
    return {
        "TITLE": "Promofy Leaderboard Service API",
        "DESCRIPTION": (
            "Real-time leaderboards over a stream of score events.\n\n"
            "Reads are public. Writes (and reading rejected events) need an API key, sent as "
            "`Authorization: Api-Key <key>`, holding the scope the operation needs: "
            "`events:write`, `boards:write` or `rejected:read`. Lists are paged with `limit` "
            "and `offset` and answer `{count, next, previous, results}`. Reads are rate "
            "limited per client IP and writes per key: past the rate, a 429 with "
            "`Retry-After`.\n\n"
            "Ranks are competition ranks: rank = 1 + the number of players with a strictly "
            "better score (scores 50, 40, 40, 30 rank 1, 2, 2, 4); within a tie, players are "
            "ordered by external id, byte-wise."
        ),
        "VERSION": "1.0.0",
        "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        "ENUM_NAME_OVERRIDES": {
            "AggregationEnum": "leaderboards.models.Aggregation",
            "SortOrderEnum": "leaderboards.models.SortOrder",
            # The events a webhook endpoint takes and an attempt carried: one name.
            "WebhookEventEnum": "webhooks.models.Event",
        },
        # Writes name it in their `security` (config/openapi.py); reads need nothing.
        "APPEND_COMPONENTS": {
            "securitySchemes": {
                "ApiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Authorization: Api-Key <key>`; keys are made in the admin "
                    "(API keys) and `make run` prints one. In Swagger UI, enter `Api-Key <key>`.",
                }
            }
        },
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            # Plain Django views under /api/v1/, which drf-spectacular cannot see.
            "config.openapi.add_plain_views",
        ],
        "PATH_CONVERTER_OVERRIDES": {"slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}},
        "SWAGGER_UI_DIST": swagger_ui,
        "SWAGGER_UI_FAVICON_HREF": f"{swagger_ui}/favicon-32x32.png",
        "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayRequestDuration": True},
    }
