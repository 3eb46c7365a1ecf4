"""Operations: live backup vs a plain file copy; export and import of fills vs raw csv."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from tradestore._core.files import fsync_dir, fsync_file
from tradestore._core.hints import PathLike
from tradestore.benchmarks import Context, Result, bulk_load, timed
from tradestore.ops.backup import backup
from tradestore.ops.export import TRADE_EXPORT_COLUMNS, export
from tradestore.ops.imports import ImportResult, import_trades
from tradestore.repo import TradeRepo

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
RAW_COLUMNS = ", ".join(TRADE_EXPORT_COLUMNS)  # the floor writes what ours writes
IMPORT_ROUNDS = 2
IMPORT_FILLS = 100_000


# the bench's own insert (the library's may gain columns): every other column defaults
RAW_INSERT = """
INSERT INTO trades (id, account, symbol, side, quantity, price, fees, fee_currency, exchange,
                    external_id, order_id, strategy, timestamp, pnl, pnl_given, position_id,
                    opened_position_id, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def raw_fill_rows(n: int, first: int = 0) -> Iterator[tuple[Any, ...]]:
    """Trade rows as RAW_INSERT takes them, made without TradeData (fast to build)."""
    for i in range(first, first + n):
        moment = START + timedelta(seconds=i * 7)
        yield (i + 1, "default", f"SYM{i % 10}/USDT", "BUY" if (i // 10) % 3 else "SELL",
               f"0.{i % 97 + 1:03d}", f"{100 + (i % 500) / 7:.6f}", "0.0125", "USDT", "bench",
               f"x{i}", None, f"s{i % 4}", moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), None, 0,
               None, None, None, "2026-01-01T00:00:00.000000Z")


def build_store(path: PathLike, n: int) -> None:
    with bulk_load(path, ("trades",)) as conn:
        for start in range(0, n, 100_000):
            conn.executemany(RAW_INSERT, raw_fill_rows(min(100_000, n - start), start))


def benches(ctx: Context) -> Iterator[Result | str]:
    n = ctx.rows * 10
    path = ctx.path("ops.db")
    build_store(path, n)
    size_mb = os.path.getsize(path) / 1e6
    repo = TradeRepo(path)

    def copy_and_sync():  # the floor: the same bytes made durable, nothing checked
        shutil.copyfile(path, ctx.path("ops-copy.db"))
        fsync_file(ctx.path("ops-copy.db"))
        fsync_dir(ctx.path("."))
    floor = timed(copy_and_sync, repeat=2)[0]
    for verify in ("quick", "full"):
        ours = timed(lambda: backup(repo, ctx.path("ops-backup.db"), overwrite=True,
                                    verify=verify), repeat=2)[0]
        yield Result(f"backup --verify {verify}, {size_mb:,.0f} MB ({n:,} fills)", ours, floor,
                     f"{size_mb / ours:,.0f} MB/s; floor: copyfile + fsync "
                     f"{size_mb / floor:,.0f} MB/s"
                     + ("; target <= 8x" if verify == "quick" else ""))
    for name in ("ops-backup.db", "ops-copy.db"):
        os.unlink(ctx.path(name))

    out = ctx.path("ops-trades.csv")
    ours = timed(lambda: export(repo, "trades", out))[0]
    raw = sqlite3.connect(path)

    def floor_export():
        with open(ctx.path("ops-floor.csv"), "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(RAW_COLUMNS.split(", "))
            writer.writerows(raw.execute(f"SELECT {RAW_COLUMNS} FROM trades ORDER BY id"))
    floor = timed(floor_export)[0]
    raw.close()
    repo.close()
    yield Result(f"export trades csv, {n:,} fills", ours, floor,
                 f"{n / ours:,.0f} rows/s; floor: cursor + csv.writer")

    # the first half of the fills, at most IMPORT_FILLS: importing all of them (validation
    # and the positions), twice, would take the bench past minutes on a busy machine
    half = min(n // 2, IMPORT_FILLS)
    source = ctx.path("ops-half.csv")
    with TradeRepo(path, readonly=True) as repo:
        export(repo, "trades", source, until=START + timedelta(seconds=7 * half))
    ours = floor = float("inf")
    for attempt in range(IMPORT_ROUNDS):   # in turn, each into a new file: load hits both
        seconds, result = _import_round(ctx.path(f"ops-import-{attempt}.db"), source)
        ours = min(ours, seconds)
        floor = min(floor, _floor_import_round(ctx.path(f"ops-import-floor-{attempt}.db"),
                                               source))
    yield Result(f"import trades csv, {half:,} fills", ours, floor,
                 f"{half / ours:,.0f} rows/s, {result.inserted:,} new; ours parses and validates "
                 "each row once and builds positions, in one transaction; floor: csv.reader + "
                 "executemany; target <= 2.5x")


def _import_round(path: PathLike, source: PathLike) -> tuple[float, ImportResult]:
    """import_trades of ``source`` into a new store: (seconds, ImportResult)."""
    fresh = TradeRepo(path)
    try:
        return timed(lambda: import_trades(fresh, source, progress=False))
    finally:
        fresh.close()
        _remove(path)


def _floor_import_round(path, source) -> float:
    """The floor: csv.reader + one executemany of the header's columns, one durable
    transaction, into a new file of our schema."""
    TradeRepo(path).close()
    target = sqlite3.connect(path, isolation_level=None)
    target.execute("PRAGMA synchronous = FULL")

    def floor_import():
        with open(source, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)  # the export's columns, every stored one of a fill
            target.execute("BEGIN IMMEDIATE")
            target.executemany(f"INSERT INTO trades ({', '.join(header)}) VALUES "
                               f"({', '.join('?' * len(header))})",
                               ([c or None for c in row] for row in reader))
            target.execute("COMMIT")
    try:
        return timed(floor_import)[0]
    finally:
        target.close()
        _remove(path)


def _remove(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.unlink(f"{path}{suffix}")
