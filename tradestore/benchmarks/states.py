"""Bot state (1 MB save/load) and portfolio snapshots (single, bulk, a year of minutes).

Floors: the state is json.dumps + hashlib.sha256 + one raw insert (and its read
back: select + sha256 + json.loads); snapshots are the same upsert through raw
sqlite3 on a table with the same columns and unique index (no CHECKs), in WAL
with synchronous=FULL like ours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sqlite3
from decimal import Decimal

from . import Result, timed
from ..portfolio import UPSERT
from ..repo import TradeRepo

UTC = dt.timezone.utc
STATE_BYTES = 1_000_000
N_SINGLE = 200
MINUTES_PER_YEAR = 525_600

FLOOR_SCHEMA = """
CREATE TABLE bot_states (id INTEGER PRIMARY KEY, bot TEXT, version INTEGER, saved_at TEXT,
                         payload TEXT, sha256 TEXT, size INTEGER, created_at TEXT);
CREATE UNIQUE INDEX bot_states_by_bot_version ON bot_states (bot, version);
CREATE TABLE portfolio_snapshots (id INTEGER PRIMARY KEY, account TEXT, timestamp TEXT,
                                  total_value TEXT, cash TEXT, positions TEXT, balances TEXT,
                                  created_at TEXT, updated_at TEXT);
CREATE UNIQUE INDEX portfolio_snapshots_by_account_time ON portfolio_snapshots (account, timestamp);
"""
FLOOR_HISTORY = """
SELECT timestamp, total_value FROM portfolio_snapshots
WHERE account = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp
"""


def benches(ctx):
    repo = TradeRepo(ctx.path("states.db"))
    raw = sqlite3.connect(ctx.path("states-floor.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.executescript(FLOOR_SCHEMA)
    try:
        state = make_state(STATE_BYTES)
        yield _state_save(repo, raw, state)
        yield _state_load(repo, raw)
        yield _snapshot_single(repo, raw)
        n = min(ctx.rows * 5, MINUTES_PER_YEAR)
        yield _snapshot_bulk(repo, raw, n)
        yield from _history(repo, raw, n)
    finally:
        repo.close()
        raw.close()


def make_state(size: int) -> dict:
    """A bot-like state of about ``size`` bytes: positions with Decimals and datetimes,
    balances, configuration and a list of recent prices."""
    rnd = random.Random(4)
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    positions, prices = {}, []
    state = {"positions": positions,
             "balances": {f"C{i}": Decimal(f"{rnd.randint(0, 10**6)}.{rnd.randint(0, 10**8):08d}")
                          for i in range(200)},
             "configuration": {"risk": {"max": Decimal("0.02"), "stops": [1.5, 2.0, 3.0]},
                               "symbols": [f"S{i}" for i in range(100)], "enabled": True},
             "extra": {"prices": prices, "last_tick": start}}
    i = 0
    while len(json.dumps(state, default=str)) < size:
        for _ in range(200):
            positions[f"SYM{i}"] = {
                "quantity": Decimal(f"{rnd.randint(1, 10**4)}.{rnd.randint(0, 10**6):06d}"),
                "avg_price": Decimal(f"{rnd.randint(1, 10**5)}.{rnd.randint(0, 99):02d}"),
                "opened": start + dt.timedelta(seconds=rnd.randint(0, 10**7)),
                "side": rnd.choice(["LONG", "SHORT"]),
                "stops": [round(rnd.random() * 100, 4) for _ in range(3)],
                "fills": rnd.randint(1, 1000)}
            prices.append(round(rnd.random() * 1000, 6))
            i += 1
    return state


def _state_save(repo, raw, state):
    version = iter(range(1, 10**6))

    def floor():
        text = json.dumps(state, default=str)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        now = dt.datetime.now(UTC).isoformat()
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("INSERT INTO bot_states (bot, version, saved_at, payload, sha256, size, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    ("default", next(version), now, text, digest, len(text), now))
        raw.execute("COMMIT")
    size = len(json.dumps(state, default=str))
    return Result(f"save_bot_state, {size / 1e6:.1f} MB state", timed(repo.save_bot_state, state,
                                                                      repeat=5)[0],
                  timed(floor, repeat=5)[0], "target <= 1.5x")


def _state_load(repo, raw):
    def floor():
        text, digest = raw.execute("SELECT payload, sha256 FROM bot_states WHERE bot = ? "
                                   "ORDER BY version DESC LIMIT 1", ("default",)).fetchone()
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            raise AssertionError("floor checksum")
        return json.loads(text)
    return Result("load_bot_state (verified), same state", timed(repo.load_bot_state, repeat=5)[0],
                  timed(floor, repeat=5)[0], "target <= 1.5x; ours returns typed values")


def _minutes(n: int, start: dt.datetime):
    return [(start + dt.timedelta(minutes=i), Decimal(10000 + i) / 100) for i in range(n)]


def _snapshot_single(repo, raw):
    points = _minutes(N_SINGLE, dt.datetime(2020, 1, 1, tzinfo=UTC))

    def ours():
        for t, v in points:
            repo.save_portfolio_snapshot(v, cash=v, timestamp=t)

    def floor():
        for t, v in points:
            now = dt.datetime.now(UTC).isoformat()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(UPSERT, ("default", t.isoformat(), str(v), str(v), None, None, now, now))
            raw.execute("COMMIT")
    return Result(f"save_portfolio_snapshot, durable (x{N_SINGLE})", timed(ours)[0],
                  timed(floor)[0], "one transaction each")


def _snapshot_bulk(repo, raw, n):
    points = _minutes(n, dt.datetime(2025, 1, 1, tzinfo=UTC))

    def ours():
        return repo.portfolio.save_many({"total_value": v, "cash": v, "timestamp": t,
                                         "account": "bench"} for t, v in points)

    def floor():
        now = dt.datetime.now(UTC).isoformat()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(UPSERT, (("bench", t.isoformat(), str(v), str(v), None, None, now, now)
                                 for t, v in points))
        raw.execute("COMMIT")
    return Result(f"portfolio save_many, {n:,} snapshots", timed(ours)[0], timed(floor)[0],
                  "one transaction")


def _history(repo, raw, n):
    end = dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=n)
    for days, label in ((None, f"all {n:,} points"), (30, "last 30 days")):
        since = "0" if days is None else (end - dt.timedelta(days=days)).isoformat()

        def ours():
            return repo.get_portfolio_value_history(days, account="bench", until=end)

        def floor():
            rows = raw.execute(FLOOR_HISTORY, ("bench", since, end.isoformat())).fetchall()
            return [(dt.datetime.fromisoformat(t), Decimal(v)) for t, v in rows]
        ours_s, got = timed(ours, repeat=3)
        floor_s, want = timed(floor, repeat=3)
        yield Result(f"get_portfolio_value_history, {label}", ours_s, floor_s,
                     f"{len(got):,} rows (floor {len(want):,})")
