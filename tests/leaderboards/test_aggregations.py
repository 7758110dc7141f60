"""The aggregation table (leaderboards/aggregations.py): one rule per operator, which every
layer reads, and the Lua that applies its Redis op."""

from __future__ import annotations

import re

import pytest

from leaderboards.aggregations import AGGREGATIONS, Aggregation
from leaderboards.cache.store.scripts import load_script


def _lua_ops() -> set[str]:
    """The ops apply_units.lua branches on (`op == '...'`)."""
    return set(re.findall(r"op == '(\w+)'", load_script("apply_units.lua").decode()))


def test_every_aggregation_has_a_rule_and_no_rule_is_left_over():
    assert set(AGGREGATIONS) == set(Aggregation.values)
    assert all(rule.aggregation == name for name, rule in AGGREGATIONS.items())


@pytest.mark.parametrize("aggregation", Aggregation.values)
def test_the_lua_knows_each_aggregations_redis_op(aggregation):
    rule = AGGREGATIONS[aggregation]

    assert {rule.redis_op_asc, rule.redis_op_desc} <= _lua_ops()


@pytest.mark.parametrize("aggregation", Aggregation.values)
def test_each_rule_says_how_a_tie_is_reached_and_how_it_combines(aggregation):
    rule = AGGREGATIONS[aggregation]

    assert rule.reached
    # An aggregate (sum, max, min) combines partial rows and carries when it was reached;
    # `last` picks its latest event instead, and every place must treat it so.
    aggregated = not rule.picks_latest
    assert (rule.combine is not None) is aggregated
    assert (rule.combine_reached is not None) is aggregated
    assert (rule.reached_column is not None) is aggregated
    assert (rule.rollup_function is not None) is aggregated
    assert (rule.joined_reached is not None) is aggregated


def test_a_descending_board_stores_negated_scores_so_best_values_flip_their_op():
    assert AGGREGATIONS[Aggregation.MAX].redis_op(descending=True) == "lt"
    assert AGGREGATIONS[Aggregation.MAX].redis_op(descending=False) == "gt"
    assert AGGREGATIONS[Aggregation.SUM].redis_op(descending=True) == "incr"
