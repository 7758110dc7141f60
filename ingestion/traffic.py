"""The shape of synthetic score traffic, shared by the fake producer (ingestion/fake.py)
and the standings benchmark (devtools/bench_standings.py), so both load what a game sends."""

# Zipf exponent: with 10,000 players the top 1% produce about two thirds of the events.
PLAYER_SKEW = 1.1
# (probability, lowest, highest): most deltas are small, a few are big wins.
DELTA_BANDS = ((0.90, 1, 50), (0.09, 51, 500), (0.01, 501, 5_000))
