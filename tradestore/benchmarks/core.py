"""The foundation: opening a store, one durable write, exact decimal sums in SQL."""

from __future__ import annotations

import sqlite3
from typing import Iterator

from tradestore._core.codec import dec_in, to_decimal
from tradestore._core.decimal_sql import register
from tradestore.benchmarks import Context, Result, timed
from tradestore.repo import TradeRepo

N_WRITES = 200


def benches(ctx: Context) -> Iterator[Result | str]:
    yield _open(ctx)
    yield _durable_writes(ctx)
    yield _decimal_sum(ctx)


def _open(ctx):
    path = ctx.path("open.db")
    TradeRepo(path).close()

    def ours():
        for _ in range(20):
            TradeRepo(path).close()

    def floor():
        for _ in range(20):
            conn = sqlite3.connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA user_version").fetchone()
            conn.close()
    return Result("open + close an existing store (x20)", timed(ours, repeat=3)[0],
                  timed(floor, repeat=3)[0], "floor: connect, WAL, read user_version; ours "
                  "also checks the application id and version")


def _durable_writes(ctx):
    repo = TradeRepo(ctx.path("writes.db"))
    raw = sqlite3.connect(ctx.path("writes-floor.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT, updated_at TEXT)")

    def ours():
        for i in range(N_WRITES):
            with repo.transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?, ?)",
                             (f"k{i}", dec_in(to_decimal("1.10", "value")),
                              "2026-01-01T00:00:00.000000Z"))

    def floor():
        for i in range(N_WRITES):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?, ?)",
                        (f"k{i}", "1.10", "2026-01-01T00:00:00.000000Z"))
            raw.execute("COMMIT")
    result = Result(f"durable transaction, one row (x{N_WRITES})", timed(ours)[0], timed(floor)[0],
                    "floor: BEGIN IMMEDIATE, insert, COMMIT; both synchronous=FULL")
    repo.close()
    raw.close()
    return result


def _decimal_sum(ctx):
    n = min(ctx.rows, 100_000)
    conn = sqlite3.connect(":memory:")
    register(conn)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", ((f"{i}.{i % 997:03d}",) for i in range(n)))

    def ours():
        return conn.execute("SELECT decimal_sum(v) FROM t").fetchone()[0]

    def floor():
        return sum(float(r[0]) for r in conn.execute("SELECT v FROM t"))
    return Result(f"decimal_sum over {n:,} rows (exact)", timed(ours, repeat=3)[0],
                  timed(floor, repeat=3)[0], "floor: float sum in Python")
