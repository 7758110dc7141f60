"""config/parsers.py: the API's JSON parser refuses bodies nested deeper than
MAX_JSON_DEPTH with a 400, whether Python's json would fail on them or not."""

from __future__ import annotations

import io

import pytest
from rest_framework.exceptions import ParseError

from config.parsers import MAX_JSON_DEPTH, TOO_DEEP, JSONParser, nested_deeper_than


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def parse(text: str):
    return JSONParser().parse(io.BytesIO(text.encode()), "application/json", {})


@pytest.mark.parametrize(
    ("data", "depth"),
    [
        (1, 0),
        ("x", 0),
        ([], 1),
        ({}, 1),
        ([1, "a"], 1),
        ({"a": [1, {"b": []}]}, 4),
        ([[], [[[]]], []], 4),
    ],
)
def test_nesting_is_counted_in_levels_of_lists_and_objects(data, depth):
    assert not nested_deeper_than(data, depth)
    assert depth == 0 or nested_deeper_than(data, depth - 1)


def test_a_body_at_the_limit_parses():
    assert parse(nested(MAX_JSON_DEPTH)) is not None
    assert parse('{"player_ids": ["p1", "p2"]}') == {"player_ids": ["p1", "p2"]}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 900, 1000, 100_000])
def test_a_body_nested_deeper_is_a_parse_error(depth):
    with pytest.raises(ParseError) as refused:
        parse(nested(depth))

    assert refused.value.detail == TOO_DEEP


def test_many_shallow_items_are_not_mistaken_for_depth():
    events = "[" + ",".join('{"player_id": "p", "delta": 1, "x": [1]}' for _ in range(1000)) + "]"

    assert len(parse(events)) == 1000


def test_a_deep_value_among_shallow_ones_is_found():
    body = '[{"a": 1}, ' * 40 + nested(MAX_JSON_DEPTH) + "]" * 40

    with pytest.raises(ParseError):
        parse(body)


@pytest.mark.parametrize("body", ["{bad", '{"a": NaN}', b"\xff".decode("latin-1")])
def test_other_malformed_bodies_are_parse_errors_as_before(body):
    with pytest.raises(ParseError) as refused:
        parse(body)

    assert str(refused.value.detail).startswith("JSON parse error - ")
