"""The OpenAPI schema: generated without warnings, valid, complete, and true to the app.

The last tests let schemathesis loose on the live app (in process, real PostgreSQL, Redis
and Kafka): whatever it sends, valid or not (hostile inputs mixed in), must never get a
server error, and every answer must match the schema.
"""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.wsgi import get_wsgi_application
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from access.models import ApiKey, Scope
from ingestion.models import RejectedEvent
from leaderboards.models import Board, Series
from tests.factories import PlayerFactory, ScoreDeltaFactory

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
# Operations a client needs an API key for; every other one is public.
KEYED = {
    ("get", "/api/v1/audit-log/"),
    ("post", "/api/v1/players/{player_id}/ban/"),
    ("delete", "/api/v1/players/{player_id}/ban/"),
    ("delete", "/api/v1/players/{player_id}/"),
    ("get", "/api/v1/players/{player_id}/export/"),
    ("post", "/api/v1/leaderboards/"),
    ("post", "/api/v1/series/"),
    ("post", "/api/v1/events/"),
    ("get", "/api/v1/rejected-events/"),
    ("put", "/api/v1/players/{player_id}/"),
    ("patch", "/api/v1/players/{player_id}/"),
    ("post", "/api/v1/leaderboards/{slug}/participants/"),
    ("delete", "/api/v1/leaderboards/{slug}/participants/{player_id}/"),
    ("delete", "/api/v1/leaderboards/{slug}/players/{player_id}/"),
    ("get", "/api/v1/webhooks/"),
    ("post", "/api/v1/webhooks/"),
    ("get", "/api/v1/webhooks/{id}/"),
    ("delete", "/api/v1/webhooks/{id}/"),
    ("get", "/api/v1/webhooks/{id}/deliveries/"),
}


@pytest.fixture(scope="module")
def generated() -> tuple[dict, list[str]]:
    """The schema, and what drf-spectacular warned about while generating it (what
    `manage.py spectacular --fail-on-warn` fails on)."""
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    return schema, problems


@pytest.fixture
def openapi(generated) -> dict:
    return generated[0]


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def api_routes() -> set[str]:
    """Every URL under /api/v1/ the app routes, in OpenAPI's notation (`{slug}`)."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)

    return {route for route in walk(get_resolver().url_patterns, "") if "/api/v1/" in route}


def test_schema_generates_without_warnings(generated):
    _, problems = generated

    assert not problems, "drf-spectacular warnings and errors:\n" + "\n".join(problems)


def test_schema_is_valid_openapi(openapi):
    validate_schema(openapi)
    assert openapi["openapi"].startswith("3.")


def test_the_schema_documents_exactly_the_api_routes(openapi):
    routes = api_routes()

    assert routes, "no /api/v1/ routes found"
    assert set(openapi["paths"]) == routes


def test_every_operation_documents_its_bodies_with_examples(openapi):
    for method, path, operation in operations(openapi):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), f"{where}: no 2xx response"
        for code, response in responses.items():
            if code == "204":  # No Content: a body would be wrong
                assert not response.get("content"), f"{where}: a 204 with a body"
                continue
            assert response.get("content"), f"{where}: the {code} response has no body schema"
            for media in response["content"].values():
                assert media.get("schema"), f"{where}: {code}"
                if code.startswith("2"):
                    assert media.get("examples"), f"{where}: no example of the {code} body"
        if method == "post":
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            assert body, f"{where}: no JSON request body"
            assert body.get("schema"), f"{where}: no request body schema"
            assert body.get("examples"), f"{where}: no request example"


def test_writes_and_rejected_events_declare_the_api_key_and_reads_do_not(openapi):
    scheme = openapi["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme == scheme | {"type": "apiKey", "in": "header", "name": "Authorization"}
    for method, path, operation in operations(openapi):
        keyed = {"ApiKeyAuth": []} in operation.get("security", [])
        assert keyed == ((method, path) in KEYED), f"{method.upper()} {path}"
        if keyed:
            assert "403" in operation["responses"], f"{method.upper()} {path}"


def test_events_endpoint_documents_one_event_or_a_list_and_its_answers(openapi):
    operation = openapi["paths"]["/api/v1/events/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    samples = [example["value"] for example in body["examples"].values()]

    assert any(isinstance(sample, dict) for sample in samples)
    assert any(isinstance(sample, list) for sample in samples)
    assert {"202", "400", "403", "503"} <= set(operation["responses"])
    event = openapi["components"]["schemas"]["ScoreEventRequest"]
    assert set(event["required"]) == {"player_id", "delta"}


def test_entries_carry_rank_player_name_and_score(openapi):
    entry = openapi["components"]["schemas"]["Entry"]

    assert set(entry["properties"]) == {"rank", "player_id", "display_name", "score"}
    page = openapi["components"]["schemas"]["EntryPage"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}


DOCUMENTED_COMPONENTS = {
    "Board",
    "Series",
    "Entry",
    "EntryPage",
    "BoardPage",
    "SeriesPage",
    "RejectedEventPage",
    "Error",
    "ValidationError",
}
# The bodies a 4xx or 5xx may have: `Error` ({detail}), `ValidationError` (fields), and
# for POST /events/ either of `EventErrors` and `Error`.
ERROR_BODIES = {"Error", "ValidationError", "EventsRejected"}


def test_every_documented_component_exists_by_name(openapi):
    missing = DOCUMENTED_COMPONENTS - set(openapi["components"]["schemas"])

    assert not missing, f"components missing from the schema: {sorted(missing)}"


def test_every_json_error_answer_refers_to_one_documented_error_body(openapi):
    for method, path, operation in operations(openapi):
        for code, response in operation["responses"].items():
            if code.startswith("2"):
                continue
            for media_type, media in response["content"].items():
                if media_type != "application/json":
                    continue
                ref = media["schema"].get("$ref", "")
                assert ref.rsplit("/", 1)[-1] in ERROR_BODIES, f"{method} {path} {code}: {ref}"


@pytest.mark.django_db
def test_schema_is_served_and_the_docs_page_loads_swagger_ui_from_our_static_files(client):
    schema = client.get("/api/schema/?format=json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/events/" in schema.json()["paths"]
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn." not in html
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"vendor/swagger-ui-dist/{name}"), name


# -- schemathesis against the live app ---------------------------------------------------

DOCUMENTED_START = datetime(2026, 11, 23, tzinfo=UTC)


def seed_documented_board() -> None:
    """The board, players and scores the schema's examples show, so the examples phase
    reaches real rows rather than 404s."""
    Board.objects.create(
        slug="weekly-2026-w48",
        name="Weekly",
        starts_at=DOCUMENTED_START,
        ends_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    for external_id, name, score in [
        ("p123", "Ada", 980),
        ("p77", "Grace", 870),
        ("p9", "Linus", 870),
    ]:
        ScoreDeltaFactory(
            player=PlayerFactory(external_id=external_id, display_name=name),
            delta=score,
            created_at=DOCUMENTED_START.replace(hour=1),
        )
    RejectedEvent.objects.create(
        topic="score-events", partition=0, offset=1, key=b"p1", raw=b"{", reason="malformed_json"
    )


@pytest.fixture
def api_key(transactional_db, topic, redis_client) -> str:
    seed_documented_board()
    _, key = ApiKey.objects.create_key(name="schemathesis", scopes=Scope.values)
    return key


# Loaded when the module is collected, so each operation becomes a test of its own.
# (schemathesis.pytest.from_fixture would load it per test, but it does not work with
# pytest 9 yet: it sets Node._nodeid, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# Every phase: the schema's examples, its coverage of each parameter's edges (bounds,
# wrong types, missing and extra values), random fuzzing, and stateful sequences. A run
# draws its seed unless SCHEMATHESIS_SEED names one; a failure says which it was.
SEED = int(os.environ.get("SCHEMATHESIS_SEED") or random.randrange(2**32))
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES") or 100)
schema.config.seed = SEED
schema.config.phases.update(phases=["examples", "coverage", "fuzzing", "stateful"])


# Hostile inputs (issue 19) mixed into the fuzzing and stateful phases, a case in four or
# so: a JSON body nested 200 deep (past config/parsers.py's limit; schemathesis encodes it
# with the standard library, which fails near 1,000: tests/config/test_hostile_input.py
# sends that), times at the end of the calendar in every window field, 1,100 query
# parameters. Each must be a 4xx like any other bad request.
FAR_FUTURE = "9999-12-31T23:00:00Z"
WINDOW_FIELDS = ("from", "to", "starts_at", "ends_at")
MANY_PARAMETERS = {f"p{i}": "1" for i in range(1100)}


def _deep_body(case):
    if case.media_type == "application/json":
        nested = []
        for _ in range(200):
            nested = [nested]
        case.body = nested
    return case


def _far_window(case):
    case.query = {**case.query, **{k: FAR_FUTURE for k in WINDOW_FIELDS if k in case.query}}
    if isinstance(case.body, dict):
        case.body = {**case.body, **{k: FAR_FUTURE for k in WINDOW_FIELDS if k in case.body}}
    return case


def _many_parameters(case):
    case.query = {**case.query, **MANY_PARAMETERS}
    return case


@schema.hook
def flatmap_case(context, case):
    """Most cases as generated (None: hypothesis shrinks towards it), some made hostile."""
    hostile = st.sampled_from([None, None, None, _deep_body, _far_window, _many_parameters])
    return hostile.map(lambda make: case if make is None else make(case))


def _with_seed(error: BaseException) -> BaseException:
    error.add_note(f"schemathesis seed {SEED}: rerun with SCHEMATHESIS_SEED={SEED}")
    return error


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_with_a_server_error(case, api_key):
    try:
        case.call_and_validate(
            headers={"Authorization": f"Api-Key {api_key}"},
            checks=[not_a_server_error, response_schema_conformance],
        )
    except BaseException as error:
        raise _with_seed(error) from None


APIWorkflow = schema.as_state_machine()


@pytest.mark.slow
def test_api_workflows_never_answer_with_a_server_error(api_key):
    """Sequences of calls: schemathesis's stateful phase infers which answers feed which
    requests (a board created, then read by its slug)."""

    class Workflow(APIWorkflow):
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Api-Key {api_key}"}}

        def teardown(self):
            # Each sequence starts from the seeded rows, so a rerun draws the same one.
            Board.objects.exclude(slug="weekly-2026-w48").delete()
            Series.objects.all().delete()

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance],
                transport_kwargs=kwargs,
            )

    try:
        run_state_machine_as_test(
            Workflow,
            settings=settings(
                max_examples=EXAMPLES // 4,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except BaseException as error:
        raise _with_seed(error) from None
