"""Candles: bulk insert and upsert, a one-day range read, gaps over a year of 1m bars.

The floor is raw sqlite3 on a table made by the same migration (same key, same
CHECKs), fed pre-converted tuples in one transaction with the same statement.
The series has a hole every 997 minutes and a six-hour outage, so gaps exist.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Iterator

from tradestore.benchmarks import Context, Result, timed
from tradestore.market.candles import INSERT_REPLACE, INSERT_SKIP, SELECT_RANGE, OHLCVBar
from tradestore.repo import TradeRepo

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
SYMBOL, EXCHANGE = "BTC/USDT", "binance"
# (open, high, low, close) text, cycled: shared strings keep a million inputs small.
PRICES = [tuple(f"{42000 + k * 0.25 + d:.2f}" for d in (0, 1.5, -0.5, 0.75)) for k in range(400)]


def benches(ctx: Context) -> Iterator[Result | str]:
    n = ctx.rows * 10
    minutes = [i for i in range(n + n // 997) if i % 997 and not 5000 <= i < 5360][:n]
    inputs = [(T0 + dt.timedelta(minutes=i), *PRICES[i % 400], f"{i % 1000}.5") for i in minutes]
    del minutes
    ours_path, floor_path = ctx.path("candles.db"), ctx.path("candles-floor.db")
    TradeRepo(floor_path).close()  # the same schema, then used through raw sqlite3 only
    repo = TradeRepo(ours_path)
    raw = sqlite3.connect(floor_path, isolation_level=None)
    try:
        yield from _bulk(repo, raw, inputs, n)
        del inputs
        yield _range(repo, raw)
        yield _gaps(repo, raw, min(ctx.rows * 5, 525_600))
    finally:
        repo.close()
        raw.close()


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _bulk(repo, raw, inputs, n):
    def build_bars():
        return [OHLCVBar(SYMBOL, "1m", t, o, h, low, c, v, exchange=EXCHANGE)
                for t, o, h, low, c, v in inputs]

    def build_tuples():
        return [(EXCHANGE, SYMBOL, "1m", _stamp(t), o, h, low, c, v, None, None)
                for t, o, h, low, c, v in inputs]
    ours, bars = timed(build_bars)
    floor, rows = timed(build_tuples)
    yield Result(f"build {n:,} OHLCVBar (validated)", ours, floor,
                 "floor: plain tuples, no checks")

    def floor_write(sql, data):
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(sql, data)
        raw.execute("COMMIT")
    ours = timed(repo.candles.insert_many, bars)[0]
    floor = timed(floor_write, INSERT_SKIP, rows)[0]
    yield Result(f"insert_many {n:,} 1m candles", ours, floor, "target <= 2x")

    # Upsert over the stored series with every close changed to the open.
    bars = [OHLCVBar(SYMBOL, "1m", b.timestamp, b.open, b.high, b.low, b.open, b.volume,
                     exchange=EXCHANGE) for b in bars]
    rows = [(*r[:7], r[4], *r[8:]) for r in rows]
    ours = timed(repo.candles.upsert_many, bars)[0]
    floor = timed(floor_write, INSERT_REPLACE, rows)[0]
    yield Result(f"upsert_many {n:,} 1m candles (all replace)", ours, floor, "target <= 2x")


def _range(repo, raw):
    start = T0 + dt.timedelta(days=1)
    end = start + dt.timedelta(days=1)
    params = (EXCHANGE, SYMBOL, "1m", _stamp(start), _stamp(end))

    def ours():
        return repo.candles.get_range(SYMBOL, "1m", start, end, exchange=EXCHANGE)

    def floor():
        return raw.execute(SELECT_RANGE, params).fetchall()
    took, bars = timed(ours, repeat=5)
    return Result(f"get_range one day ({len(bars):,} bars)", took, timed(floor, repeat=5)[0],
                  "floor: raw text rows")


def _gaps(repo, raw, m):
    start, end = T0, T0 + dt.timedelta(minutes=m)

    def ours():
        return repo.candles.get_gaps(SYMBOL, "1m", exchange=EXCHANGE, start=start, end=end)

    def floor():  # fetch the open times and walk them in Python
        rows = raw.execute(
            "SELECT timestamp FROM candles WHERE exchange = ? AND symbol = ? AND timeframe = ? "
            "AND timestamp >= ? AND timestamp < ? ORDER BY timestamp",
            (EXCHANGE, SYMBOL, "1m", _stamp(start), _stamp(end))).fetchall()
        gaps, expected, step = [], start, dt.timedelta(minutes=1)
        for (text,) in rows:
            moment = dt.datetime.fromisoformat(text)
            if moment != expected:
                gaps.append((expected, moment))
            expected = moment + step
        if expected < end:
            gaps.append((expected, end))
        return gaps
    took, gaps = timed(ours, repeat=3)
    floor_took, floor_gaps = timed(floor, repeat=3)
    note = "floor: Python walk" + ("" if gaps == floor_gaps else " (RESULTS DIFFER)")
    return Result(f"get_gaps over {m:,} minutes ({len(gaps)} gaps)", took, floor_took, note)
