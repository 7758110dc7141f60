"""Whatever arrives, the HTTP event endpoint and the consumer's decoder each either accept
an event or reject it with a reason; neither ever raises or answers with a server error.
Arbitrary bytes, arbitrary JSON, and JSON shaped like events with wrong values."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.batches import decode_batch
from ingestion.events import Reason, ScoreEvent
from tests.ingestion.test_decode_batch import LIMITS, NOW, FakeMessage

REASONS = {value for name, value in vars(Reason).items() if name.isupper()}
FIELDS = [
    "player_id",
    "playerId",
    "delta",
    "metric",
    "created_at",
    "timestamp",
    "event_id",
    "display_name",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=12,
)
# Events with every field present, each drawn from values of any type.
eventlike = st.fixed_dictionaries(
    {"player_id": json_values, "delta": json_values},
    optional=dict.fromkeys(("metric", "created_at", "event_id", "display_name"), json_values),
)
bodies = st.binary(max_size=300) | (json_values | eventlike).map(msgspec.json.encode)


@given(values=st.lists(st.none() | bodies, min_size=1, max_size=8))
def test_the_decoder_accepts_or_rejects_every_message_with_a_reason(values):
    messages = [FakeMessage(value, _offset=offset) for offset, value in enumerate(values)]

    batch = decode_batch(messages, limits=LIMITS, now=NOW)

    assert len(batch.events) + len(batch.rejected) == len(values)
    assert all(isinstance(event, ScoreEvent) for _, event in batch.events)
    for rejected in batch.rejected:
        assert rejected.reason in REASONS
        assert rejected.detail


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=bodies | st.lists(eventlike, min_size=1, max_size=3).map(msgspec.json.encode))
def test_the_event_endpoint_accepts_or_rejects_every_body_with_a_reason(keyed_client, topic, body):
    response = keyed_client.generic(
        "POST", "/api/v1/events/", body, content_type="application/json"
    )

    assert response.status_code in (202, 400), response.content
    answer = response.json()
    if response.status_code == 202:
        assert answer["accepted"] >= 1
    elif "errors" in answer:
        assert answer["errors"]
        for error in answer["errors"]:
            assert error["reason"] in REASONS
            assert error["detail"]
    else:
        assert answer["detail"]
