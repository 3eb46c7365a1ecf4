"""How cost grows with the store (issue 16.7): each hot read on stores of 10k, 100k and
1M fills, as a cost per unit read, and the peak memory of the streamed reads.

A store of F fills is the analytics bench's store: F/10 closed round trips (ten fills
each) and F portfolio snapshots over a year (analytics.build). Sizes run up to the
largest store the run builds elsewhere, ``--rows x 10`` fills: the default run (--rows
100000) has all three, and its 1M-fill store is the analytics rows' own, built once.

Per size, each row against a floor of plain sqlite3 on the same file:
- history: ``get_trade_history`` of one symbol over 30 days; floor: the same SELECT
  (the same columns, the same index range), raw tuples. Per returned row.
- statistics: ``get_statistics(days=None)``; floor: the same columns summed with
  Decimal in Python (analytics.floor_statistics). Per round trip.
- 30-day metrics: ``calculate_performance_metrics`` over the window; floor: only
  reading the window's snapshots and round trips. Per row in the window; on the 1M-fill
  store (1M snapshots) this is issue 16.2's target, <= 2x.
- iter_trades: every fill of the 30 days, streamed; floor: the same SELECT iterated
  raw. Per fill, with the peak memory of the stream (tracemalloc, a separate call).

A per-unit cost that stays flat from one size to the next means the cost follows the
rows read, not the size of the store; a flat peak means the stream holds a page, not
the window.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

from tradestore.benchmarks import Context, Result, peak_memory, timed_pair
from tradestore.benchmarks.analytics import (FILLS_PER_TRIP, SYMBOLS, floor_statistics,
                                             floor_window, store, ts_text, window_bounds)
from tradestore.benchmarks.trades import HISTORY_FROM
from tradestore.record.trades import TRADE_COLUMNS
from tradestore.repo import TradeRepo

SIZES = (10_000, 100_000, 1_000_000)
HISTORY_SYMBOL = SYMBOLS[3]
# The SELECT get_trade_history / iter_trades run for one symbol (or all) over a window.
FLOOR_HISTORY = HISTORY_FROM + " AND timestamp < ? ORDER BY timestamp, id"
FLOOR_STREAM = (f"SELECT {TRADE_COLUMNS} FROM trades WHERE voided_at IS NULL "
                "AND timestamp >= ? AND timestamp < ? ORDER BY timestamp, id")


def sizes(rows: int) -> list[int]:
    """The fill counts a run with ``--rows rows`` measures."""
    return [fills for fills in SIZES if fills <= rows * FILLS_PER_TRIP]


def benches(ctx: Context) -> Iterator[Result | str]:
    for fills in sizes(ctx.rows):
        path = store(ctx, fills // FILLS_PER_TRIP, fills)
        repo = TradeRepo(path, readonly=True)
        raw = sqlite3.connect(path)
        try:
            yield from _rows(repo, raw, fills)
        finally:
            repo.close()
            raw.close()


def _per(seconds: float, units: int) -> str:
    return f"{seconds / max(units, 1) * 1e6:.2f}"


def _rows(repo, raw, fills):
    since, until = window_bounds()
    window = (ts_text(since), ts_text(until))
    repeat = 3 if fills >= 1_000_000 else 7   # the whole-store reads at 1M take a second

    ours, got, floor, plain = timed_pair(
        lambda: repo.get_trade_history(HISTORY_SYMBOL, since=since, until=until),
        lambda: raw.execute(FLOOR_HISTORY, (HISTORY_SYMBOL, *window)).fetchall(), 7)
    assert [t.id for t in got] == [r[0] for r in plain]
    yield Result(f"scale: history(symbol, 30d), {fills:,} fills", ours, floor,
                 f"{len(got):,} rows: {_per(ours, len(got))} us/row (floor "
                 f"{_per(floor, len(plain))}); floor: same SELECT, raw tuples; target <= 2x")

    trips = fills // FILLS_PER_TRIP
    ours, stats, floor, plain = timed_pair(lambda: repo.get_statistics(days=None),
                                           lambda: floor_statistics(raw), repeat)
    assert stats.total_trades == plain[0] == trips and stats.net_pnl == plain[5]
    peak = peak_memory(lambda: repo.get_statistics(days=None))[0]
    yield Result(f"scale: statistics, {fills:,} fills", ours, floor,
                 f"{trips:,} trips: {_per(ours, trips)} us/trip (floor {_per(floor, trips)}); "
                 f"peak {peak / 1e6:.1f} MB; target <= 1.2x")

    ours, metrics, floor, (snaps, trips_in) = timed_pair(
        lambda: repo.calculate_performance_metrics(since=since, until=until),
        lambda: floor_window(raw, *window), 7)
    assert metrics.total_trades == len(trips_in)
    read = len(snaps) + len(trips_in)
    yield Result(f"scale: 30-day metrics, {fills:,} fills", ours, floor,
                 f"{read:,} rows in window: {_per(ours, read)} us/row (floor "
                 f"{_per(floor, read)}); floor: reading them; target <= 2x at 1M")

    def stream():
        return sum(1 for _ in repo.iter_trades(since=since, until=until))

    def floor_stream():
        return sum(1 for _ in raw.execute(FLOOR_STREAM, window))
    ours, streamed, floor, counted = timed_pair(stream, floor_stream, repeat)
    assert streamed == counted
    peak = peak_memory(stream)[0]
    yield Result(f"scale: iter_trades(30d), {fills:,} fills", ours, floor,
                 f"{streamed:,} fills: {_per(ours, streamed)} us/fill (floor "
                 f"{_per(floor, counted)}); peak {peak / 1e6:.2f} MB (flat: streamed)")
