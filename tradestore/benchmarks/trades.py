"""Fills: bulk save, one durable save, history on a large store, streaming."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import datetime, timedelta, timezone

from tradestore.benchmarks import Result, timed
from tradestore.record.trades import INSERT_TRADE, TradeData
from tradestore.repo import TradeRepo

SYMBOLS = [f"SYM{i}/USDT" for i in range(10)]
START = datetime.now(timezone.utc) - timedelta(days=365)


def make_fills(n: int, *, spread_days=365.0, first=0, total=None) -> list[TradeData]:
    total = total or n
    step = spread_days * 86400 / max(total, 1)
    return [TradeData(SYMBOLS[i % 10], "BUY" if (i // 10) % 3 else "SELL", f"0.{i % 97 + 1:03d}",
                      f"{100 + (i % 500) / 7:.6f}", fees="0.0125",
                      timestamp=START + timedelta(seconds=i * step), exchange="bench",
                      external_id=f"x{i}", strategy=f"s{i % 4}") for i in range(first, first + n)]


def raw_rows(fills, first_id=1):
    """The same fills as plain row tuples for the floor (no positions)."""
    return [(first_id + i, t.account, t.symbol, t.side, format(t.quantity, "f"),
             format(t.price, "f"), format(t.fees, "f"), None, t.exchange, t.external_id, None,
             t.strategy, t.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), None, 0, None, None, None,
             "2026-01-01T00:00:00.000000Z", "TRADE", None, 0, "0", None, None, None, None, None)
            for i, t in enumerate(fills)]  # schema 11: liquidation .. liquidation_price


def floor_connection(path) -> sqlite3.Connection:
    """A raw sqlite3 connection on a file with exactly our schema (same table, same indexes)."""
    TradeRepo(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def benches(ctx):
    n = ctx.rows
    fills = make_fills(n)
    rows = raw_rows(fills)

    repo = TradeRepo(ctx.path("bulk.db"))
    ours = timed(repo.save_trades, fills)[0]
    repo.close()
    raw = floor_connection(ctx.path("bulk-floor.db"))

    def floor():
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(INSERT_TRADE, rows)
        raw.execute("COMMIT")
    yield Result(f"save_trades bulk, {n:,} fills", ours, timed(floor)[0],
                 "target <= 3x; ours also builds positions")
    raw.close()

    singles = make_fills(200)
    repo = TradeRepo(ctx.path("single.db"))
    raw = floor_connection(ctx.path("single-floor.db"))
    single_rows = raw_rows(singles)

    def ours_single():
        for trade in singles:
            repo.save_trade(trade)

    def floor_single():
        for row in single_rows:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(INSERT_TRADE, row)
            raw.execute("COMMIT")
    yield Result("save_trade durable, one fill (x200)", timed(ours_single)[0],
                 timed(floor_single)[0], "target <= 1.5x; synchronous=FULL")
    repo.close()
    raw.close()

    yield from _large_store(ctx, n * 10)


def _large_store(ctx, big):
    path = ctx.path("large.db")
    raw = floor_connection(path)
    raw.execute("PRAGMA synchronous = OFF")
    raw.execute("BEGIN")
    chunk = 100_000
    for start in range(0, big, chunk):
        fills = make_fills(min(chunk, big - start), first=start, total=big)
        raw.executemany(INSERT_TRADE, raw_rows(fills, start + 1))
    raw.execute("COMMIT")
    repo = TradeRepo(path, readonly=True)
    since = datetime.now(timezone.utc) - timedelta(days=30)
    symbol = SYMBOLS[3]
    ours, got = timed(lambda: repo.get_trade_history(symbol, days=30), repeat=3)
    sql = ("SELECT id, symbol, side, quantity, price, timestamp, fees, fee_currency, exchange, "
           "external_id, order_id, strategy, account, pnl, metadata FROM trades "
           "WHERE symbol = ? AND timestamp >= ? ORDER BY timestamp, id")
    floor = timed(lambda: raw.execute(sql, (symbol, since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
                  .fetchall(), repeat=3)[0]
    yield Result(f"get_trade_history(symbol, 30d), {big:,} fills", ours, floor,
                 f"{len(got):,} rows as TradeData vs raw tuples; target <= 2x")

    def stream():
        return sum(1 for _ in repo.iter_trades(days=None))

    def floor_stream():
        return sum(1 for _ in raw.execute("SELECT * FROM trades ORDER BY timestamp, id"))
    ours_time = timed(stream)[0]
    floor_time = timed(floor_stream)[0]
    tracemalloc.start()
    counted = 0
    for _ in repo.iter_trades(days=None):
        counted += 1
        if counted == 5_000:
            early = tracemalloc.get_traced_memory()[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    yield Result(f"iter_trades over {big:,} fills", ours_time, floor_time,
                 f"peak {peak / 1e6:.1f} MB after 5k rows {early / 1e6:.1f} MB (flat)")
    repo.close()
    raw.close()
