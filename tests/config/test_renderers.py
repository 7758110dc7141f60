"""The API's JSON: msgspec-encoded, the same text as DRF's for what DRF renders, and plain
rows (dataclasses) rendered as objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

from django.http import HttpResponse
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from config.renderers import JSONRenderer, json_response


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    player_id: str


def test_drf_values_and_rows_render_as_json():
    data = {
        "errors": [ErrorDetail("bad", code="invalid")],
        "lazy": gettext_lazy("hello"),
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "rows": [Row(1, "p1")],
    }

    body = json.loads(JSONRenderer().render(data))

    assert body == {
        "errors": ["bad"],
        "lazy": "hello",
        "when": "2026-01-02T03:04:05Z",
        "rows": [{"rank": 1, "player_id": "p1"}],
    }


def test_json_response_encodes_at_once_for_json_and_leaves_other_renderers_to_drf():
    as_json = json_response(SimpleNamespace(accepted_renderer=JSONRenderer()), [Row(2, "p")])
    browsable = json_response(SimpleNamespace(accepted_renderer=BrowsableAPIRenderer()), {})

    assert type(as_json) is HttpResponse
    assert as_json["Content-Type"] == "application/json"
    assert json.loads(as_json.content) == [{"rank": 2, "player_id": "p"}]
    assert isinstance(browsable, Response)
