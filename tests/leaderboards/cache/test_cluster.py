"""The board store on a real Redis Cluster: three Valkey masters started here.

The store, race and name tests of the suite run again, unchanged, in a pytest child whose
settings name the cluster (REDIS_CLUSTER=1, REDIS_URL a node of it, Django's cache and
Celery on the suite's plain Valkey); so does the test below, which only means something on a
cluster: events through the API onto boards on every node, then a master killed under them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
from django.conf import settings
from prometheus_client import REGISTRY

from devtools.embedded import EmbeddedValkeyCluster
from leaderboards.cache.store import redis_breaker_reset
from leaderboards.cache.sync import cache_sync
from leaderboards.postgres.standings import standings_page
from leaderboards.ranking import Window
from tests.factories import BoardFactory
from tests.ingestion.kafka_helpers import consume_until_idle

BASE_DIR = Path(__file__).resolve().parents[3]

# Run again in the child, against the cluster.
ON_A_CLUSTER = [
    "tests/leaderboards/cache/test_store.py",
    "tests/leaderboards/cache/test_sync.py",  # builds racing a consumer process
    "tests/ingestion/test_display_names.py::test_the_latest_name_by_created_at_wins_in_any_order",
    "tests/leaderboards/cache/test_cluster.py",  # the test below, which kills a master: last
]

only_on_a_cluster = pytest.mark.skipif(
    not settings.REDIS_CLUSTER, reason="runs in test_the_store_runs_on_a_redis_cluster's child"
)


@pytest.mark.slow
@pytest.mark.skipif(settings.REDIS_CLUSTER, reason="the child itself")
def test_the_store_runs_on_a_redis_cluster(tmp_path):
    cluster = EmbeddedValkeyCluster(masters=3, state_dir=tmp_path).start()
    # The suite's Valkey, a db of its own, for Django's cache and Celery.
    plain = urlsplit(settings.REDIS_URL)._replace(path="/1").geturl()
    # A database of its own: the child creates and drops its test database, which must not
    # be this session's.
    database = urlsplit(os.environ["DATABASE_URL"])._replace(path="/leaderboards_cluster")
    try:
        child = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"),
                *("--deselect", f"{ON_A_CLUSTER[-1]}::test_the_store_runs_on_a_redis_cluster"),
                *ON_A_CLUSTER,
            ],
            cwd=BASE_DIR,
            env={
                **os.environ,
                "DATABASE_URL": database.geturl(),
                "REDIS_CLUSTER": "1",
                "REDIS_URL": cluster.url(),
                "CACHE_REDIS_URL": plain,
                "CELERY_BROKER_URL": plain,
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        cluster.stop()
    output = child.stdout[-6000:] + child.stderr[-3000:]
    assert child.returncode == 0, output
    assert " passed" in child.stdout, output
    assert " skipped" not in child.stdout, output  # every test ran on the cluster


def boards_on_nodes(store, count: int) -> dict[str, list]:
    """Boards made until `count` nodes hold some, by node (the keys of a board share one
    slot; boards spread over the nodes)."""
    by_node: dict[str, list] = {}
    while len(by_node) < count:
        board = BoardFactory()
        by_node.setdefault(store.board_node(board), []).append(board)
    return by_node


def totals(client, board) -> dict[str, tuple[int, str]]:
    response = client.get(f"/api/v1/leaderboards/{board.slug}/entries/?limit=100")
    assert response.status_code == 200, response.content
    return {e["player_id"]: (e["score"], e["display_name"]) for e in response.json()["results"]}


def post_events(keyed_client, events) -> None:
    response = keyed_client.post("/api/v1/events/", events, format="json")
    assert response.status_code == 202, response.json()


def hits() -> float:
    return REGISTRY.get_sample_value("leaderboards_cache_hits_total") or 0.0


@only_on_a_cluster
@pytest.mark.django_db(transaction=True)
def test_boards_on_every_node_then_one_master_dies(topic, store, keyed_client, client):
    """Events posted to the API reach boards on all three nodes, served from Redis with
    their names; then a master dies: its boards answer from PostgreSQL at once, the others
    still from Redis, and the consumer keeps them fresh."""
    redis_breaker_reset()  # what the fixtures' Redis calls noted on the way
    by_node = boards_on_nodes(store, 3)
    assert len(by_node) == 3, "three masters, boards on each"
    boards = [board for boards in by_node.values() for board in boards]
    post_events(keyed_client, [{"player_id": f"p{i}", "delta": 10} for i in range(5)])
    consume_until_idle(topic)
    for board in boards:
        totals(client, board)  # builds the board on its node
        assert store.state(board) == "ready"
    post_events(keyed_client, [{"player_id": "p0", "delta": 5, "display_name": "Zero"}])
    results = consume_until_idle(topic)
    assert {outcome for r in results for outcome in r.boards.values()} == {"applied"}
    expected = {f"p{i}": (10, f"p{i}") for i in range(1, 5)} | {"p0": (15, "Zero")}
    before = hits()
    for board in boards:
        assert totals(client, board) == expected  # from Redis, named from the names hash
        page = store.top(board, 0, 100)
        assert page == standings_page(Window.of_board(board), offset=0, limit=100)
        assert page.names == {"p0": "Zero"}
        ranked = store.ranks(board, ["p1", "nobody", "p0"])  # names fetched alongside
        assert [(s.player_id, s.score) for s in ranked.standings] == [("p0", 15), ("p1", 10)]
        assert ranked.names == {"p0": "Zero"}
    assert hits() - before == len(boards)

    # REDIS_URL's node stays up: a process starting during the outage finds the rest there.
    url_node = settings.REDIS_URL.split("//", 1)[1].rsplit("/", 1)[0]
    victim = next(node for node in by_node if node != url_node)
    dead, alive = by_node[victim], [b for node, bs in by_node.items() if node != victim for b in bs]
    host, port = victim.rsplit(":", 1)
    redis_lib.Redis(host=host, port=int(port)).shutdown(nosave=True)  # the master dies
    post_events(keyed_client, [{"player_id": "p1", "delta": 5}, {"player_id": "late", "delta": 1}])
    results = consume_until_idle(topic)  # the consumer keeps feeding the other nodes
    outcomes = {board: outcome for r in results for board, outcome in r.boards.items()}
    assert {outcomes[board.pk] for board in dead} == {"unreachable"}
    assert {outcomes[board.pk] for board in alive} == {"applied"}

    expected |= {"p1": (15, "p1"), "late": (1, "late")}
    started = time.monotonic()
    for board in dead + dead:  # from PostgreSQL; the second time without asking the node
        assert totals(client, board) == expected
        with pytest.raises(redis_lib.ConnectionError):
            store.top(board, 0, 10)
    assert time.monotonic() - started < 2.0
    before = hits()
    for board in alive:
        assert totals(client, board) == expected
        assert store.top(board, 0, 100) == standings_page(
            Window.of_board(board), offset=0, limit=100
        )
    assert hits() - before == len(alive), "boards of the live nodes answer from Redis"

    report = cache_sync(checks=len(boards))  # skips what the dead node holds, does the rest
    assert report.checked == len(boards)
    assert report.drifted == []
