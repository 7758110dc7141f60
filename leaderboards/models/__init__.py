"""The leaderboards app's models, by subject: boards.py (boards, series, tournament and
league rules, participants) and deltas.py (the score delta log, consumer offsets, final
standings, rollups). Everything is importable from here, as `leaderboards.models.X`."""

from leaderboards.aggregations import Aggregation
from leaderboards.models.boards import (
    METRIC_MAX_LENGTH,
    METRIC_PATTERN,
    TIE_BREAK_HELP,
    TOURNAMENT_FIELDS,
    TOURNAMENT_LIMIT_MAX,
    Board,
    BoardQuerySet,
    BoardStatus,
    BucketMember,
    Participant,
    Period,
    Series,
    SortOrder,
    TieBreak,
    TournamentRules,
    tie_break_field,
)
from leaderboards.models.deltas import (
    ConsumerOffset,
    DailyRollup,
    DeltaLogHorizon,
    FinalStanding,
    HourlyRollup,
    RollupBase,
    RollupWatermark,
    ScoreDelta,
    WeeklyRollup,
)

__all__ = [
    "METRIC_MAX_LENGTH",
    "METRIC_PATTERN",
    "TIE_BREAK_HELP",
    "TOURNAMENT_FIELDS",
    "TOURNAMENT_LIMIT_MAX",
    "Aggregation",
    "Board",
    "BoardQuerySet",
    "BoardStatus",
    "BucketMember",
    "ConsumerOffset",
    "DailyRollup",
    "DeltaLogHorizon",
    "FinalStanding",
    "HourlyRollup",
    "Participant",
    "Period",
    "RollupBase",
    "RollupWatermark",
    "ScoreDelta",
    "Series",
    "SortOrder",
    "TieBreak",
    "TournamentRules",
    "WeeklyRollup",
    "tie_break_field",
]
