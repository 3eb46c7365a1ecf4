"""Bookkeeping: a durable event, a settings read, a strategy's performance."""

from __future__ import annotations

import sqlite3
from typing import Iterator

from tradestore._core.decimal_sql import register
from tradestore.benchmarks import Context, Result, timed
from tradestore.repo import TradeRepo

N_EVENTS = 200
N_GETS = 5_000

SETTINGS_FLOOR = """
CREATE TABLE settings (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL,
    value_type TEXT NOT NULL) STRICT
"""


def _raw(path, schema=None):
    """The floor's connection, durable as ours; into a store of our schema (its tables,
    indexes and CHECKs) unless ``schema`` gives a bare table."""
    if schema is None:
        TradeRepo(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if schema is not None:
        conn.execute(schema)
    return conn


def benches(ctx: Context) -> Iterator[Result | str]:
    yield _event_log(ctx)
    yield _settings_get(ctx)
    yield _performance(ctx)


def _event_log(ctx):
    repo = TradeRepo(ctx.path("events.db"))
    raw = _raw(ctx.path("events-floor.db"))
    details = {"order": 1, "reason": "bench"}

    def ours():
        for i in range(N_EVENTS):
            repo.events.log("bench", f"event {i}", severity="warning", symbol="BTC/USDT",
                            details=details)

    def floor():
        for i in range(N_EVENTS):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO events (timestamp, severity, event_type, message, "
                        "symbol, details) VALUES (?, ?, ?, ?, ?, ?)",
                        ("2026-01-01T00:00:00.000000Z", "warning", "bench", f"event {i}",
                         "BTC/USDT", '{"order":1,"reason":"bench"}'))
            raw.execute("COMMIT")
    result = Result(f"events.log, durable, one each (x{N_EVENTS})", timed(ours)[0],
                    timed(floor)[0], "floor: BEGIN IMMEDIATE + INSERT + COMMIT, "
                    "same schema, synchronous=FULL")
    repo.close()
    raw.close()
    return result


def _settings_get(ctx):
    repo = TradeRepo(ctx.path("settings.db"))
    raw = _raw(ctx.path("settings-floor.db"), SETTINGS_FLOOR)
    for i in range(100):
        repo.settings.set(f"key{i}", f"{i}.50", value_type="decimal")
        raw.execute("INSERT INTO settings (key, value, value_type) VALUES (?, ?, 'decimal')",
                    (f"key{i}", f"{i}.50"))
    keys = [f"key{i % 100}" for i in range(N_GETS)]

    def ours():
        for key in keys:
            repo.settings.get(key)

    def floor():
        for key in keys:
            raw.execute("SELECT value, value_type FROM settings WHERE key = ?", (key,)).fetchone()
    result = Result(f"settings.get, typed (x{N_GETS:,})", timed(ours, repeat=3)[0],
                    timed(floor, repeat=3)[0], "floor: raw select, no decoding")
    repo.close()
    raw.close()
    return result


def _performance(ctx):
    n = min(ctx.rows, 100_000)
    repo = TradeRepo(ctx.path("performance.db"))
    rows = [("default", "BTC/USDT", "SELL" if i % 2 else "BUY", "1", "100.5", "0.10",
             f"s{i % 10}", f"2026-01-01T00:00:{i % 60:02d}.000000Z",
             (f"{i % 7 - 3}.25" if i % 2 else None), "2026-01-01T00:00:00.000000Z")
            for i in range(n)]
    with repo.transaction() as conn:
        conn.executemany("INSERT INTO trades (account, symbol, side, quantity, price, fees, "
                         "strategy, timestamp, pnl, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         rows)
    raw = sqlite3.connect(ctx.path("performance.db"))
    register(raw)

    def ours():
        return repo.strategies.performance("s3")

    def floor():
        return raw.execute("SELECT count(*), count(pnl), sum(CAST(pnl AS REAL) > 0), "
                           "sum(CAST(pnl AS REAL)), sum(CAST(fees AS REAL)) FROM trades "
                           "WHERE strategy = ?", ("s3",)).fetchone()
    result = Result(f"strategy performance over {n // 10:,} of {n:,} fills",
                    timed(ours, repeat=3)[0], timed(floor, repeat=3)[0],
                    "floor: float sums, no decimal_sum")
    raw.close()
    repo.close()
    return result
