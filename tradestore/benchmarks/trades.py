"""Fills: bulk save, one durable save, history on a large store, streaming."""

from __future__ import annotations

import sqlite3
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence
from typing import Callable

from tradestore._core.hints import PathLike
from tradestore.benchmarks import Context, Result, timed
from tradestore.record.trades import INSERT_TRADE, TRADE_COLUMNS, TradeData
from tradestore.repo import TradeRepo

SYMBOLS = [f"SYM{i}/USDT" for i in range(10)]
# The SELECT get_trade_history(symbol, days=30) runs: every column a fill is read from,
# the live fills of one symbol from a time on (the history floors, SQLite and PostgreSQL;
# the scale rows add an end to the window)
HISTORY_FROM = (f"SELECT {TRADE_COLUMNS} FROM trades WHERE voided_at IS NULL AND symbol = ? "
                "AND timestamp >= ?")
HISTORY_SQL = HISTORY_FROM + " ORDER BY timestamp, id"
N_SINGLE = 200
START = datetime.now(timezone.utc) - timedelta(days=365)


def make_fills(n: int, *, spread_days: float = 365.0, first: int = 0,
               total: int | None = None) -> list[TradeData]:
    total = total or n
    step = spread_days * 86400 / max(total, 1)
    return [TradeData(SYMBOLS[i % 10], "BUY" if (i // 10) % 3 else "SELL", f"0.{i % 97 + 1:03d}",
                      f"{100 + (i % 500) / 7:.6f}", fees="0.0125",
                      timestamp=START + timedelta(seconds=i * step), exchange="bench",
                      external_id=f"x{i}", strategy=f"s{i % 4}") for i in range(first, first + n)]


def raw_rows(fills: Sequence[Any], first_id: int = 1) -> list[tuple[Any, ...]]:
    """The same fills as plain row tuples for the floor (no positions)."""
    return [(first_id + i, t.account, t.symbol, t.side, format(t.quantity, "f"),
             format(t.price, "f"), format(t.fees, "f"), None, t.exchange, t.external_id, None,
             t.strategy, t.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), None, 0, None, None, None,
             "2026-01-01T00:00:00.000000Z", "TRADE", None, 0, "0", None, None, None, None, None)
            for i, t in enumerate(fills)]  # schema 11: liquidation .. liquidation_price


def floor_connection(path: PathLike) -> sqlite3.Connection:
    """A raw sqlite3 connection on a file with exactly our schema (same table, same indexes)."""
    TradeRepo(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    return conn


ROUNDS = 3  # each side's best of three, the sides taking turns (a load burst hits both)


def bulk_rounds(ctx: Context, label: str, sides: dict[str, Callable[[Path], float]],
                rounds: int = ROUNDS) -> dict[str, float]:
    """{name: best seconds} of each ``side(path)`` saving its fills into a new file
    (named by ``label``, the side and the round), the sides taking turns for
    ``rounds`` rounds; only the call is timed."""
    best = dict.fromkeys(sides, float("inf"))
    for r in range(rounds):
        for name, side in sides.items():
            path = ctx.path(f"{label}-{name}-{r}.db")
            best[name] = min(best[name], side(path))
            for suffix in ("", "-wal", "-shm"):  # done with: a round's files are large
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return best


def ours_bulk(fills: list[TradeData]) -> Callable[[Path], float]:
    """save_trades into a new store (positions built); seconds."""
    def run(path: Path) -> float:
        repo = TradeRepo(path)
        try:
            return timed(repo.save_trades, fills)[0]
        finally:
            repo.close()
    return run


def floor_bulk(fills: list[TradeData]) -> Callable[[Path], float]:
    """The floor: one executemany of the same rows into the same schema (every CHECK
    and index, WAL, synchronous=FULL), no positions; seconds."""
    rows = raw_rows(fills)

    def run(path: Path) -> float:
        raw = floor_connection(path)

        def insert() -> None:
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(INSERT_TRADE, rows)
            raw.execute("COMMIT")
        try:
            return timed(insert)[0]
        finally:
            raw.close()
    return run


def recorded_writes(path: PathLike, fills: list[TradeData]) -> list[list[tuple[Any, ...]]]:
    """For each fill, the writes (sql, parameters, executemany?) that save_trade makes
    into a new store, recorded through the connection's echo hook on a scratch store:
    the single-save floor replays exactly them (the same rows and pages written, the
    same durability) without our reads, checks and accounting."""
    repo = TradeRepo(path)
    writes: list[list[tuple]] = []

    def record(sql, params, many=False):
        if sql.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes[-1].append((sql, params, many))
    repo.db.conn.echo = record
    try:
        for trade in fills:
            writes.append([])
            repo.save_trade(trade)
    finally:
        repo.close()
    return writes


def benches(ctx: Context) -> Iterator[Result | str]:
    n = ctx.rows
    fills = make_fills(n)
    best = bulk_rounds(ctx, "bulk", {"ours": ours_bulk(fills), "floor": floor_bulk(fills)})
    yield Result(f"save_trades bulk, {n:,} fills", best["ours"], best["floor"],
                 "target <= 3x; floor: raw executemany, same schema+durability, no "
                 "positions")

    singles = make_fills(N_SINGLE * ROUNDS)
    writes = recorded_writes(ctx.path("single-recorded.db"), singles)
    repo = TradeRepo(ctx.path("single.db"))
    raw = floor_connection(ctx.path("single-floor.db"))
    raw.execute("PRAGMA foreign_keys = ON")  # as ours

    def ours_single(r):
        for trade in singles[r * N_SINGLE:(r + 1) * N_SINGLE]:
            repo.save_trade(trade)

    def floor_single(r):
        for statements in writes[r * N_SINGLE:(r + 1) * N_SINGLE]:
            raw.execute("BEGIN IMMEDIATE")
            for sql, params, many in statements:
                (raw.executemany if many else raw.execute)(sql, params)
            raw.execute("COMMIT")
    best_ours = best_floor = float("inf")
    for r in range(ROUNDS):  # taking turns
        best_ours = min(best_ours, timed(ours_single, r)[0])
        best_floor = min(best_floor, timed(floor_single, r)[0])
    yield Result(f"save_trade durable, one fill (x{N_SINGLE})", best_ours, best_floor,
                 "target <= 1.5x; floor: BEGIN IMMEDIATE + our writes (fill, position) + "
                 "COMMIT")
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
    floor = timed(lambda: raw.execute(HISTORY_SQL, (symbol, since.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"))).fetchall(), repeat=3)[0]
    yield Result(f"get_trade_history(symbol, 30d), {big:,} fills", ours, floor,
                 f"target <= 2x; floor: the same SELECT (same columns), raw tuples; {len(got):,} rows")

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
                 f"floor: SELECT * by (timestamp, id), raw tuples; peak {peak / 1e6:.1f} "
                 f"MB, after 5k rows {early / 1e6:.1f} MB (flat)")
    repo.close()
    raw.close()
