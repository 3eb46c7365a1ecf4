"""Analytics on a large store: statistics, grouped performance, performance metrics.

The store has ``rows * 10`` fills, ``rows`` closed round trips (ten fills each) and
``rows * 10`` portfolio snapshots with gaps in the days (the default --rows 100000: 1M
fills and 1M snapshots, issue 16.2's window target). It is written with raw inserts
(fills, positions and snapshots consistent with each other: a position's pnl is its
fills' cash flow) because building it through save_trades is not what is measured;
it is built once per run and shared with the scale rows of the same size.

Each floor does the same I/O with plain sqlite3 on the same file and the arithmetic in
plain Python (issue 16.1, 16.2, 16.6):
- statistics / grouped: fetch the same position columns over the same closed_at range
  and sum them with Decimal (the exact sums ours makes), grouping in a dict;
- metrics, all time: the statistics floor plus reading the account's snapshots and
  computing the daily series, returns, drawdown and its duration in plain Python;
- metrics, 30-day window: only reading that window's rows (its snapshots and its round
  trips), no arithmetic at all, so the ratio is what the figures cost on top of I/O.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any, Iterable, Iterator

from tradestore._core.hints import PathLike
from tradestore._core.money import EXACT
from tradestore.benchmarks import Context, Result, bulk_load, timed_pair
from tradestore.record.trades import INSERT_TRADE
from tradestore.repo import TradeRepo

SYMBOLS = [f"SYM{i}/USDT" for i in range(10)]
START = datetime(2023, 1, 2, tzinfo=timezone.utc)
START_NAIVE = START.replace(tzinfo=None)   # naive UTC: faster arithmetic while building
FILLS_PER_TRIP = 10
INSERT_POSITION = """
INSERT INTO positions (id, account, symbol, side, quantity, entry_value, entry_fees,
                       max_quantity, realized_pnl, fees, trade_count, opened_at, closed_at,
                       created_at, updated_at, exchange, currency, strategy)
VALUES (?, 'default', ?, ?, '0', '0', '0', '5', ?, ?, 10, ?, ?, ?, ?, 'bench', 'USDT', ?)
"""
INSERT_SNAPSHOT = """
INSERT INTO portfolio_snapshots (account, timestamp, total_value, created_at, updated_at)
VALUES ('default', ?, ?, ?, ?)
"""
# The same columns over the same index range as roundtrips.ROUND_TRIPS_SQL.
FLOOR_TRIPS = """
SELECT realized_pnl, fees,
       (strftime('%s', closed_at) - strftime('%s', opened_at)) * 1000000
           + (substr(closed_at, 21, 6) - substr(opened_at, 21, 6)),
       coalesce(currency, ''), unvalued_fees, coalesce(strategy, ''), symbol, exchange
FROM positions WHERE closed_at IS NOT NULL AND closed_at >= ? AND closed_at < ?
"""
FLOOR_CURVE = """
SELECT timestamp, total_value FROM portfolio_snapshots
WHERE account = 'default' AND timestamp >= ? AND timestamp < ? ORDER BY timestamp
"""
NOW = "2026-01-01T00:00:00.000000Z"


def ts_text(moment: datetime) -> str:
    """Stored text of a UTC (or naive UTC) time; isoformat is several times strftime's speed."""
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def _money(units: int) -> str:
    """Fixed-point text of ``units`` ten-thousandths ('-12.0050')."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 10000}.{units % 10000:04d}"


def _trip_rows(i: int, trip_step: timedelta, first_fill_id: int):
    """One round trip: five entry fills and five exit fills of quantity 1, and its position."""
    symbol, strategy = SYMBOLS[i % 10], f"s{i % 4}"
    long = i % 3 != 0
    opened = START_NAIVE + i * trip_step
    entry = [1_000_000 + (i * 37 + j * 11) % 50_000 for j in range(5)]
    exit_ = [1_000_000 + (i * 53 + j * 29 + 700) % 50_000 for j in range(5)]
    fee = 125 + i % 7
    fills: list[tuple[Any, ...]] = []
    for j in range(FILLS_PER_TRIP):
        opening = j < 5
        price = entry[j] if opening else exit_[j - 5]
        side = ("BUY" if opening else "SELL") if long else ("SELL" if opening else "BUY")
        fills.append((first_fill_id + j, "default", symbol, side, "1", _money(price), _money(fee),
                      None, "bench", None, None, strategy if opening else None,
                      ts_text(opened + timedelta(seconds=30 * j)), None, 0, i + 1, None, None, NOW,
                      "TRADE", None, 0, "0", None, None, None, None, None))  # + schema 11
    gross = sum(exit_) - sum(entry)
    pnl = (gross if long else -gross) - FILLS_PER_TRIP * fee
    last = list(fills[-1])
    last[13] = _money(pnl)
    fills[-1] = tuple(last)
    closed = fills[-1][12]
    position = (i + 1, symbol, "LONG" if long else "SHORT", _money(pnl),
                _money(FILLS_PER_TRIP * fee), fills[0][12], closed, NOW, NOW, strategy)
    return fills, position


def build(path: PathLike, rows: int, snapshots: int | None = None) -> None:
    """rows round trips (rows * 10 fills) and ``snapshots`` snapshots (default: rows) over
    ~a year, raw inserts (bulk_load: a 1M-fill store in seconds, our exact schema)."""
    with bulk_load(path, ("trades", "positions", "portfolio_snapshots")) as conn:
        trip_step = timedelta(days=365) / max(rows, 1)
        chunk_fills, chunk_positions = [], []
        for i in range(rows):
            fills, position = _trip_rows(i, trip_step, i * FILLS_PER_TRIP + 1)
            chunk_fills += fills
            chunk_positions.append(position)
            if len(chunk_positions) == 10_000 or i == rows - 1:
                conn.executemany(INSERT_POSITION, chunk_positions)
                conn.executemany(INSERT_TRADE, chunk_fills)
                chunk_fills, chunk_positions = [], []
        conn.executemany(INSERT_SNAPSHOT, _snapshots(rows if snapshots is None else snapshots))


def _snapshots(count: int):
    """count snapshot rows spread over a year; every ninth day has none (a gap)."""
    made, value, moment = 0, 1_000_000_000, START_NAIVE
    step = timedelta(days=365) / max(count, 1)
    while made < count:
        if moment.toordinal() % 9 != 4:
            value += ((made * 7919) % 2001 - 990) * 10
            made += 1
            yield ts_text(moment), _money(value), NOW, NOW
        moment += step


def _blocks(cursor, size=4096):
    """Rows fetched a block at a time (the fastest plain way to stream them)."""
    while True:
        block = cursor.fetchmany(size)
        if not block:
            return
        yield from block


def floor_statistics(conn: sqlite3.Connection, start: str = "0000",
                     end: str = "9999") -> tuple[Any, ...]:
    """Trade statistics in plain Python from the streamed columns."""
    return tally(_blocks(conn.execute(FLOOR_TRIPS, (start, end))))


def tally(rows: Iterable[Any], holding: Any = 0) -> tuple[Any, ...]:
    """The floors' plain-Python statistics over (pnl, fees, time held, ...) rows, the
    amounts as text or Decimal, summed exactly: (count, wins, losses, gross profit, gross
    loss, net, fees, largest win, largest loss, mean time held)."""
    n = wins = losses = 0
    gross_profit = gross_loss = fees = Decimal(0)
    largest_win = largest_loss = None
    with localcontext(EXACT):
        for pnl_value, fee_value, held, *_ in rows:
            pnl = Decimal(pnl_value)
            n += 1
            fees += Decimal(fee_value)
            if pnl > 0:
                wins += 1
                gross_profit += pnl
                largest_win = pnl if largest_win is None or pnl > largest_win else largest_win
            elif pnl < 0:
                losses += 1
                gross_loss += pnl
                largest_loss = pnl if largest_loss is None or pnl < largest_loss else largest_loss
            holding += held
        net = gross_profit + gross_loss
    return (n, wins, losses, gross_profit, gross_loss, net, fees, largest_win, largest_loss,
            holding / n if n else None)


def floor_groups(conn: sqlite3.Connection) -> dict[Any, Any]:
    """Per-strategy count, wins, net pnl and fees, exact, grouped in a dict."""
    groups: dict = {}
    with localcontext(EXACT):
        for pnl_text, fee_text, _, currency, _, strategy, *_ in _blocks(conn.execute(
                FLOOR_TRIPS, ("0000", "9999"))):
            pnl = Decimal(pnl_text)
            g = groups.get((strategy, currency))
            if g is None:
                g = groups[(strategy, currency)] = [0, 0, Decimal(0), Decimal(0)]
            g[0] += 1
            g[1] += pnl > 0
            g[2] += pnl
            g[3] += Decimal(fee_text)
    return groups


def floor_performance(conn: sqlite3.Connection) -> tuple[Any, ...]:
    """The curve metrics in plain Python (no flows): the first snapshot then the daily
    closes with gaps carried, float returns, drawdown and its longest duration over
    every snapshot; plus the statistics."""
    last_of_day: dict[str, str] = {}
    peak, peak_at, max_dd, longest = -math.inf, 0.0, 0.0, 0.0  # peak_at: set with peak
    below = False
    parse = datetime.fromisoformat
    first: Any = None  # the first snapshot's value text
    for ts, value_text in _blocks(conn.execute(FLOOR_CURVE, ("0000", "9999"))):
        if first is None:
            first = value_text
        last_of_day[ts[:10]] = value_text
        v = float(value_text)
        if v >= peak:
            seconds = parse(ts).timestamp()
            if below:
                longest = max(longest, seconds - peak_at)
            peak, peak_at, below = v, seconds, False
        else:
            below = True
            max_dd = max(max_dd, 1.0 - v / peak)
        last_ts = ts
    if below:
        longest = max(longest, parse(last_ts).timestamp() - peak_at)
    days = sorted(last_of_day)
    values, day, value = [float(first)], date.fromisoformat(days[0]), 0.0
    end = date.fromisoformat(days[-1])
    while day <= end:  # the first day has a close: value is set before it is carried
        value = float(last_of_day.get(day.isoformat(), value))
        values.append(value)
        day += timedelta(days=1)
    returns = [b / a - 1.0 for a, b in zip(values, values[1:])]
    n = len(returns)
    mean = sum(returns) / n
    stdev = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    return (values[-1] / values[0] - 1, stdev, mean / stdev, downside, max_dd, longest,
            floor_statistics(conn))


def floor_window(conn: sqlite3.Connection, start: str, end: str) -> tuple[Any, ...]:
    """Only reading the window's rows: its snapshots and its round trips."""
    return (conn.execute(FLOOR_CURVE, (start, end)).fetchall(),
            conn.execute(FLOOR_TRIPS, (start, end)).fetchall())


def store(ctx: Context, trips: int, snapshots: int) -> Path:
    """The path of a store of ``trips`` round trips and ``snapshots`` snapshots, built
    once per run: the analytics rows and the scale rows of the same size share it."""
    path = ctx.path(f"analytics-{trips}-{snapshots}.db")
    if not path.exists():
        build(path, trips, snapshots)
    return path


def window_bounds() -> tuple[datetime, datetime]:
    """The 30-day window the windowed rows read: days 300-330 of the stores' year."""
    return START + timedelta(days=300), START + timedelta(days=330)


def benches(ctx: Context) -> Iterator[Result | str]:
    rows, snapshots = ctx.rows, ctx.rows * FILLS_PER_TRIP
    path = store(ctx, rows, snapshots)
    repo = TradeRepo(path)
    raw = sqlite3.connect(path)
    repeat = 2 if rows >= 50_000 else 5   # best of several: the machine is shared
    try:
        ours, stats, floor, plain = timed_pair(lambda: repo.get_statistics(days=None),
                                               lambda: floor_statistics(raw), repeat)
        assert stats.total_trades == plain[0] == rows and stats.net_pnl == plain[5]
        yield Result(f"get_statistics(days=None), {rows:,} trips", ours, floor,
                     "floor: Decimal sums of the same columns; target <= 1.2x")
        ours, groups, floor, plain = timed_pair(lambda: repo.get_strategy_performance(),
                                                lambda: floor_groups(raw), repeat)
        assert {(g.name, g.currency): g.net_pnl for g in groups} == \
            {k: v[2] for k, v in plain.items()}
        yield Result(f"get_strategy_performance(), {rows:,} trips", ours, floor,
                     "floor: the same, grouped in a dict; target <= 1.2x")
        ours, metrics, floor, plain = timed_pair(
            lambda: repo.calculate_performance_metrics(days=None),
            lambda: floor_performance(raw), repeat)
        assert math.isclose(metrics.max_drawdown, plain[4], rel_tol=1e-9)
        assert math.isclose(metrics.total_return, plain[0], rel_tol=1e-9)
        yield Result(f"performance_metrics(None), {snapshots:,} snaps", ours, floor,
                     f"{metrics.days} days + statistics; floor: plain Python; target <= 1.2x")
        since, until = window_bounds()
        ours, window, floor, (snaps, trips) = timed_pair(
            lambda: repo.calculate_performance_metrics(since=since, until=until),
            lambda: floor_window(raw, ts_text(since), ts_text(until)), 9)
        assert window.total_trades == len(trips)
        yield Result(f"performance_metrics(30 days of {snapshots:,} snaps)", ours, floor,
                     f"{len(snaps):,} snaps + {len(trips):,} trips; floor: reading them; "
                     "target <= 2x")
    finally:
        repo.close()
        raw.close()
