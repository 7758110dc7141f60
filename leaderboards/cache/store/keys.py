"""The Redis key schema of the leaderboard store, and what a cached set was built for.

Key names live here and nowhere else (the Lua scripts, the files of leaderboards/cache/lua/,
take them as KEYS). Every key of a board carries the hash tag `{lb:<id>}`, so a board and
its bookkeeping share one Redis Cluster slot and each script touches a single slot.

Per board:

- `lb:{<id>}:z`       the sorted set; members are player external ids.
- `lb:{<id>}:meta`    hash: `state` (building|ready|stale), `token` of the build that owns
                      it, `serving` (what the set was, ready|stale, while it is shown though
                      not ready), `lease` (epoch ms a build counts as dead after), and one
                      fence per Kafka partition, `p:<n>` = the next offset of partition n
                      that the set does not yet contain.
- `lb:{<id>}:pending` batches that arrived while the board was being built.
- `lb:{<id>}:build`   the set under construction.
- `lb:{<id>}:t`       for `last` boards, each player's event time (epoch ms); for
                      `earliest` boards, when each player's score was reached;
  `lb:{<id>}:build-t` the same under construction.

And beside the boards:

- `lb:cached`         the set of board ids that are cached. On a Redis Cluster it is kept in
                      CACHED_COPIES copies `lb:cached:{c<n>}` whose slots spread over the
                      slot space (every node holds some), and read as the union of the
                      copies that answer: with one node down, the consumer still knows the
                      boards of the others.
- `lb:names`          hash: player external id -> display name ('' for none), which the read
                      scripts answer with; its field '' marks it loaded (leaderboards/cache/names.py
                      fills it).
                      On a Redis Cluster it lives in a slot of its own, which the read scripts
                      cannot touch: reads ask for the names in a second round trip.
- `lb:drift-cursor`   the id of the last board the cache sync compared with PostgreSQL: the
                      drift check takes the boards in turn from there
                      (leaderboards/cache/sync.py).
- `lb:catalog:{<fp>}` hash: `board:<slug>` / `series:<slug>` -> the pickled definition, so
                      reads need no PostgreSQL (leaderboards/cache/catalog.py); `<fp>` is a
                      fingerprint of the models' fields, so a deploy that changes them starts
                      a fresh catalog. `lb:catalog:{<fp>}:version` counts its invalidations
                      (the same hash tag: one slot for the script that checks both).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from leaderboards.models import Board
from leaderboards.ranking import RANKING_FIELDS

CACHED_SET = "lb:cached"
CACHED_COPIES = 16  # of the cached set, on a Redis Cluster
NAMES = "lb:names"
NAMES_LOADED = ""  # the names hash's field that says it is loaded (no player id is empty)
CATALOG = "lb:catalog"
DRIFT_CURSOR = "lb:drift-cursor"


@dataclass(frozen=True, slots=True)
class BoardKeys:
    """Every Redis key of one board."""

    meta: str  # hash: state, token, def, and the fences p:<partition>
    zset: str  # the sorted set
    pending: str  # batches queued during a build
    build: str  # the set under construction
    times: str  # epoch ms per player: a `last` score's event, an `earliest` score's reach
    build_times: str  # the times under construction

    @classmethod
    def of(cls, board_id: int) -> BoardKeys:
        tag = f"lb:{{{board_id}}}"
        return cls(*(f"{tag}:{name}" for name in ("meta", "z", "pending", "build", "t", "build-t")))

    def all(self) -> list[str]:
        """In the order the build scripts take them."""
        return [self.meta, self.zset, self.pending, self.build, self.times, self.build_times]


def definition(board: Board) -> str:
    """What a cached set was computed for: the board's RANKING_FIELDS, times in ISO 8601
    ('' for none). The consumer sends its own view of the board with every batch, so a
    board edited in the admin is never fed by a stale definition."""
    return "|".join(_definition_part(name, getattr(board, name)) for name in RANKING_FIELDS)


def _definition_part(name: str, value: object) -> str:
    if name.endswith("_at"):  # the window's bounds
        return "" if value is None else value.isoformat()
    return str(value)


def spread_tags(count: int) -> list[str]:
    """`count` hash tags, the n-th hashing into the n-th of `count` equal runs of the
    cluster's slots: keys under them land on every node that owns a run of slots that long
    (nodes own ranges of slots)."""
    tags: dict[int, str] = {}
    n = 0
    while len(tags) < count:
        tag = f"c{n}"
        tags.setdefault(key_slot(tag.encode()) * count // REDIS_CLUSTER_HASH_SLOTS, tag)
        n += 1
    return [tags[run] for run in range(count)]
